/*
 * The clock of a task under `rstore build --check`: the host's wall clock plus a fixed
 * offset, read once from /etc/rstore-clock (nanoseconds, signed decimal). Loaded into
 * every dynamically linked program through /etc/ld.so.preload; it sets no environment
 * variable and shares no state, so the task sees nothing else change. Monotonic and
 * boot clocks are left alone (the time namespace handles them).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long long offset_ns;
static int (*real_clock_gettime)(clockid_t, struct timespec *);

__attribute__((constructor)) static void rstore_clock_init(void)
{
    char buf[32];
    ssize_t n = 0;
    int fd = open("/etc/rstore-clock", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
    }
    long long value = 0;
    int negative = 0;
    for (ssize_t i = 0; i < n; i++) {
        if (i == 0 && buf[i] == '-') {
            negative = 1;
        } else if (buf[i] >= '0' && buf[i] <= '9') {
            value = value * 10 + (buf[i] - '0');
        } else {
            break;
        }
    }
    offset_ns = negative ? -value : value;
    real_clock_gettime = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
}

static int is_wall_clock(clockid_t id)
{
    return id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE || id == CLOCK_TAI || id == CLOCK_REALTIME_ALARM;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    if (!real_clock_gettime)
        rstore_clock_init();
    int ret = real_clock_gettime ? real_clock_gettime(id, ts) : -1;
    if (ret == 0 && is_wall_clock(id)) {
        long long ns = (long long)ts->tv_nsec + offset_ns % 1000000000LL;
        ts->tv_sec += offset_ns / 1000000000LL + ns / 1000000000LL;
        ns %= 1000000000LL;
        if (ns < 0) {
            ns += 1000000000LL;
            ts->tv_sec -= 1;
        }
        ts->tv_nsec = ns;
    }
    return ret;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    struct timespec ts;
    if (tz)
        *(struct timezone *)tz = (struct timezone){0, 0};
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return -1;
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
    return 0;
}

time_t time(time_t *out)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return (time_t)-1;
    if (out)
        *out = ts.tv_sec;
    return ts.tv_sec;
}

int timespec_get(struct timespec *ts, int base)
{
    if (base != TIME_UTC || clock_gettime(CLOCK_REALTIME, ts) != 0)
        return 0;
    return base;
}
