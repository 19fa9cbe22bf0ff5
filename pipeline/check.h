// CCPULSE_CHECK: aborts with file, line and the reason when an invariant of our own code is
// broken (a programmer error, never bad input: input errors are absl::Status).
#ifndef CCPULSE_PIPELINE_CHECK_H_
#define CCPULSE_PIPELINE_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define CCPULSE_CHECK(condition, reason)                                                   \
  do {                                                                                     \
    if (!(condition)) [[unlikely]] {                                                       \
      std::fprintf(stderr, "%s:%d: check failed: %s (%s)\n", __FILE__, __LINE__, #condition, \
                   reason);                                                                \
      std::abort();                                                                        \
    }                                                                                      \
  } while (false)

#endif  // CCPULSE_PIPELINE_CHECK_H_
