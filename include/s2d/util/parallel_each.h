// Independent jobs on a few threads, for host work between ATen calls that ATen's own intra-op
// threads do not cover (s2d is not built with OpenMP, so at::parallel_for in s2d's sources runs
// on one thread).
#pragma once

#include <cstdint>
#include <functional>

namespace s2d {

// Calls job(i) once for each i in [0, n), on up to `threads` threads, this one among them. Jobs are
// taken in order by whichever thread is free, so a job must not depend on which thread runs it or
// on the others. The first exception a job throws is rethrown here, once every thread has
// stopped; jobs not yet started then do not run.
void parallel_each(int64_t n, int threads, const std::function<void(int64_t)>& job);

}  // namespace s2d
