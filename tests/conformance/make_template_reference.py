"""Renders every template in tests/data/templates with transformers' own renderer
(render_jinja_template, the function apply_chat_template(tokenize=False) uses) over a matrix of
conversations: with and without a system turn, 1 to 3 user turns, a tool call and its result,
add_generation_prompt on and off, enable_thinking unset/true/false, and a tool's schema passed as
`tools`. Writes OUT/templates.jsonl, one case per line:
{"template", "messages", "add_generation_prompt", "kwargs", "rendered" | "error"}.

strftime_now (Llama-3.x's "Today Date") reads the clock. With SOURCE_DATE_EPOCH set, as the test
sets it for this script and for s2d, both render that moment in UTC, so the cases do not change
at midnight between the two runs.

Usage: make_template_reference.py TEMPLATE_DIR OUT
"""
import datetime
import json
import os
import sys

import transformers.utils.chat_template_utils as chat_template_utils
from transformers.utils.chat_template_utils import render_jinja_template


class PinnedClock(datetime.datetime):
    """datetime whose now() is SOURCE_DATE_EPOCH in UTC; strftime_now calls datetime.now()."""

    @classmethod
    def now(cls, tz=None):
        epoch = int(os.environ["SOURCE_DATE_EPOCH"])
        return datetime.datetime.fromtimestamp(epoch, tz or datetime.timezone.utc).replace(tzinfo=tz)


def conversations():
    replies = ["Sure, here it is:\n\n  42  ", "<think>\nfirst I add.\n</think>\n\nIt is 4.", "Tabs\there STOP"]
    users = ["What is 2 + 2?", "  and then 3?  ", "skip this one, it says skip", "Äpfel und Bäume 日本 👍"]
    for system in [None, "You are terse.\n"]:
        for n in (1, 2, 3):
            msgs = [{"role": "system", "content": system}] if system else []
            for k in range(n):
                msgs.append({"role": "user", "content": users[(k + n) % len(users)]})
                if k < n - 1:
                    msgs.append({"role": "assistant", "content": replies[k % len(replies)]})
            yield msgs
            yield msgs + [{"role": "assistant", "content": replies[(n + 1) % len(replies)]}]
    # A tool call and its result, in transformers' message format (arguments as a dict).
    call = {"role": "assistant", "content": "",
            "tool_calls": [{"type": "function", "id": "call0",
                            "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}]}
    result = {"role": "tool", "tool_call_id": "call0", "name": "get_weather", "content": '{"temp": 21.5}'}
    ask = {"role": "user", "content": "Weather in Paris?"}
    yield [ask, call, result]
    yield [{"role": "system", "content": "You are terse.\n"}, ask, call, result,
           {"role": "assistant", "content": "It is 21.5 degrees."}]


# A tool schema, as transformers passes one (apply_chat_template(tools=[...])).
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "The weather forecast for a city.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "The city"},
        "days": {"type": "integer", "description": "How many days", "enum": [1, 2, 3]}},
        "required": ["city"]}}}]


def main():
    tdir, out = sys.argv[1], sys.argv[2]
    if os.environ.get("SOURCE_DATE_EPOCH"):
        chat_template_utils.datetime = PinnedClock
    os.makedirs(out, exist_ok=True)
    n = 0
    with open(os.path.join(out, "templates.jsonl"), "w") as f:
        for name in sorted(os.listdir(tdir)):
            template = open(os.path.join(tdir, name)).read()
            for msgs in conversations():
                for gen in (False, True):
                    for kwargs in ({}, {"enable_thinking": True}, {"enable_thinking": False}, {"extra": "E"},
                                   {"tools": TOOLS}):
                        case = {"template": name, "messages": msgs, "add_generation_prompt": gen, "kwargs": kwargs}
                        try:
                            rendered, _ = render_jinja_template(conversations=[msgs], chat_template=template,
                                                                add_generation_prompt=gen, bos_token="<s>",
                                                                eos_token="</s>", **kwargs)
                            case["rendered"] = rendered[0]
                        except Exception as e:  # raise_exception: s2d must refuse the same cases
                            case["error"] = str(e)
                        f.write(json.dumps(case, ensure_ascii=False) + "\n")
                        n += 1
    print(f"{n} cases")


if __name__ == "__main__":
    main()
