# shellcheck shell=bash
# The programs the GPU scripts run, as paths in a build tree (their CMake targets are the base
# names): build.sh builds them, run_all.sh packs them into gpu-bin.tar.gz, compile_check.sh
# builds and packs them on a machine without a GPU.
# shellcheck disable=SC2034  # used by the scripts that source this
S2D_GPU_PROGRAMS=(src/s2d tests/unit/s2d_model_tests tests/conformance/s2d_conformance_tests
  tests/conformance/s2d_train_conformance_tests tests/bench/s2d_bench_generate tests/bench/s2d_bench_train
  tests/bench/s2d_bench_sampling tests/bench/s2d_bench_autograd_ops)
