// A small pool of worker threads for Parallel.forEachRange (see ckernels.h). A parallel region
// is published by bumping a region counter; workers spin on it for a while (a layer's next
// region usually follows within microseconds) and then sleep on a futex, so the hand-off costs
// about a cache-line transfer instead of a thread wake-up.
#define _GNU_SOURCE
#include "ckernels.h"
#if !defined(__linux__)
int ck_parallel(int parts, ck_part_fn fn, void *ctx) { (void)parts, (void)fn, (void)ctx; return 0; }
#else
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// Workers spin for the next region, then sleep: 2 ms when every thread of the pool has a CPU
// of its own in the process's affinity mask, 0.2 ms otherwise (a spinning worker would hold
// the core the caller needs). A sleeping worker costs a wake-up, and in a VM an idle vCPU's
// wake-up can take longer than LeNet's regions: with 0.2 ms spins its 2-thread step took
// 4.9–11 ms over 15 steps (it settles near 4.9 after a few hundred), with 2 ms 5.0–5.6.
// The caller spins ~50 µs (2048 pauses of 10–140 cycles) for the last part before sleeping:
// a woken worker may share its core.
enum { max_workers = 63, parts_mask = 127, caller_spins = 2048, clock_every = 64 };
static const long spin_ns_own_cpus = 2000000, spin_ns_shared = 200000;

// `region` holds (region counter << 7) | parts in one word, so that a worker reads a region's
// part count together with its number, and can wait on it with a futex. A worker whose part is
// in the region reads fn and ctx safely: the caller cannot publish the next region before that
// part is done. A worker outside it reads nothing else.
static struct {
    _Atomic unsigned region;
    _Atomic unsigned pending;      // parts not yet finished in the current region
    _Atomic int caller_sleeps;     // the caller is blocked (or about to block) on `pending`
    _Atomic int sleepers;          // workers blocked (or about to block) on `region`
    ck_part_fn fn;
    void *ctx;
    int workers;                   // threads started so far
    unsigned created_at;           // `region` when the newest worker was created
    _Atomic long spin_ns;          // how long workers spin before sleeping
    atomic_flag busy;              // one region at a time; other callers run serially
} pool = {.busy = ATOMIC_FLAG_INIT};

static _Thread_local int in_region;  // nested regions (a part calling back in) run serially

static void futex_wait(_Atomic unsigned *addr, unsigned expected) {
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic unsigned *addr) {
    syscall(SYS_futex, (unsigned *)addr, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
}

static inline void pause_cpu(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

// CPUs this process may run on (sched_getaffinity: Slurm's and mpirun's bindings included).
static int allowed_cpus(void) {
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
}

static void *worker(void *arg) {
    int index = (int)(long)arg;  // runs part `index` (1-based: the caller runs part 0)
    // The region current when this thread was created (not when it starts running: the
    // caller may publish the region that needs it before then).
    unsigned seen = pool.created_at;
    in_region = 1;
    for (;;) {
        unsigned now;
        int spins = 0;
        long since = 0;
        while ((now = atomic_load_explicit(&pool.region, memory_order_acquire)) == seen) {
            pause_cpu();
            if (++spins % clock_every) continue;
            long t = now_ns();
            if (!since) since = t;
            if (t - since < atomic_load_explicit(&pool.spin_ns, memory_order_relaxed)) continue;
            atomic_fetch_add(&pool.sleepers, 1);
            // Re-check after announcing: a region published in between is not missed.
            if (atomic_load(&pool.region) == seen) futex_wait(&pool.region, seen);
            atomic_fetch_sub(&pool.sleepers, 1);
            spins = 0;
            since = 0;
        }
        seen = now;
        if (index < (int)(now & parts_mask)) {
            pool.fn(pool.ctx, index);
            if (atomic_fetch_sub(&pool.pending, 1) == 1 && atomic_load(&pool.caller_sleeps))
                futex_wake_all(&pool.pending);
        }
    }
    return NULL;
}

// A forked child has none of the workers: it starts its own pool if it needs one.
static void forget_workers(void) {
    pool.workers = 0;
    atomic_store(&pool.sleepers, 0);
    atomic_store(&pool.caller_sleeps, 0);
    atomic_flag_clear(&pool.busy);
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void) { pthread_atfork(NULL, NULL, forget_workers); }

int ck_parallel(int parts, ck_part_fn fn, void *ctx) {
    pthread_once(&atfork_once, register_atfork);
    if (parts <= 1 || in_region || parts - 1 > max_workers || atomic_flag_test_and_set(&pool.busy)) {
        for (int p = 0; p < parts; p++) fn(ctx, p);
        return 1;
    }
    while (pool.workers < parts - 1) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pool.created_at = atomic_load(&pool.region);
        atomic_store(&pool.spin_ns, allowed_cpus() > pool.workers + 1 ? spin_ns_own_cpus : spin_ns_shared);
        int failed = pthread_create(&t, &attr, worker, (void *)(long)(pool.workers + 1));
        pthread_attr_destroy(&attr);
        if (failed) break;
        pool.workers++;
    }
    if (pool.workers < parts - 1) {  // no threads to be had: run it here
        atomic_flag_clear(&pool.busy);
        for (int p = 0; p < parts; p++) fn(ctx, p);
        return 1;
    }
    pool.fn = fn;
    pool.ctx = ctx;
    atomic_store_explicit(&pool.pending, (unsigned)parts - 1, memory_order_relaxed);
    unsigned next = ((atomic_load_explicit(&pool.region, memory_order_relaxed) >> 7) + 1) << 7 | (unsigned)parts;
    atomic_store(&pool.region, next);  // sequentially consistent: ordered before the sleepers load
    if (atomic_load(&pool.sleepers) > 0) futex_wake_all(&pool.region);
    in_region = 1;
    fn(ctx, 0);
    in_region = 0;
    int spins = 0;
    unsigned left;
    while ((left = atomic_load(&pool.pending)) > 0) {
        if (++spins < caller_spins) { pause_cpu(); continue; }
        atomic_store(&pool.caller_sleeps, 1);
        if ((left = atomic_load(&pool.pending)) > 0) futex_wait(&pool.pending, left);
        atomic_store(&pool.caller_sleeps, 0);
    }
    atomic_flag_clear(&pool.busy);
    return 1;
}
#endif
