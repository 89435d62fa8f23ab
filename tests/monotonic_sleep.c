/* Preloaded ahead of libfaketime in the future-date tests (tests/future.py).
 *
 * libfaketime 0.9.10 with FAKETIME_DONT_FAKE_MONOTONIC=1 turns an absolute
 * clock_nanosleep on CLOCK_MONOTONIC into a negative wait, so Python's time.sleep fails
 * with EINVAL (wolfcw/libfaketime#426). Monotonic sleeps go straight to the kernel here;
 * every other clock is handed on to the next definition (libfaketime's). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int clock_nanosleep(clockid_t clock, int flags, const struct timespec *request,
                    struct timespec *remain) {
    if (clock == CLOCK_MONOTONIC) {
        long r = syscall(SYS_clock_nanosleep, clock, flags, request, remain);
        return r == -1 ? -1 : 0;
    }
    static int (*next)(clockid_t, int, const struct timespec *, struct timespec *);
    if (!next) {
        next = dlsym(RTLD_NEXT, "clock_nanosleep");
    }
    return next(clock, flags, request, remain);
}
