// Containing faults inside libhdf5 (see chdf5guard.h). Each wrapper sets a jump point, marks
// this thread as inside a guarded call, and makes the HDF5 call; the fault handler jumps back
// only when the faulting instruction lies in libhdf5's code, so it never unwinds out of the
// allocator or another library holding a lock.
#define _GNU_SOURCE
#include "chdf5guard.h"
#include <link.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

static const int fault_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL};
enum { n_fault_signals = sizeof fault_signals / sizeof fault_signals[0] };

struct guard {
    sigjmp_buf jump;
};

static _Thread_local struct guard *current;   // the guarded call this thread is in, if any
static _Thread_local int last_fault;          // the signal that ended it
static _Thread_local void *alt_stack;         // so that a stack overflow can be handled

static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static int installed;                         // guarded calls in progress on all threads
static struct sigaction previous[n_fault_signals];
static uintptr_t hdf5_lo, hdf5_hi;            // libhdf5's executable segment

// The executable segments of the loaded object named libhdf5*.so* (the serial or the parallel build).
static int find_hdf5(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size, (void)data;
    const char *slash = info->dlpi_name ? strrchr(info->dlpi_name, '/') : NULL;
    const char *base = slash ? slash + 1 : info->dlpi_name;
    if (!base || strncmp(base, "libhdf5", 7) != 0 || strncmp(base, "libhdf5_hl", 10) == 0) return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (!hdf5_hi || lo < hdf5_lo) hdf5_lo = lo;
        if (hi > hdf5_hi) hdf5_hi = hi;
    }
    return hdf5_hi != 0;
}

static uintptr_t fault_pc(void *context) {
    const ucontext_t *uc = context;
#if defined(__x86_64__)
    return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    return (uintptr_t)uc->uc_mcontext.pc;
#else
    (void)uc;
    return 0;
#endif
}

static int in_hdf5(uintptr_t pc) {
#if defined(__x86_64__) || defined(__aarch64__)
    return pc >= hdf5_lo && pc < hdf5_hi;
#else
    (void)pc;
    return 1;  // no program counter to check: every fault in a guarded call counts
#endif
}

static void on_fault(int sig, siginfo_t *info, void *context) {
    struct guard *g = current;
    if (g && in_hdf5(fault_pc(context))) {
        current = NULL;
        last_fault = sig;
        siglongjmp(g->jump, 1);
    }
    // Not ours: what would have happened without us.
    int i = 0;
    while (fault_signals[i] != sig) i++;
    const struct sigaction *old = &previous[i];
    if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction) {
        old->sa_sigaction(sig, info, context);
    } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
        old->sa_handler(sig);
    } else {
        // The default action: restore it; returning re-executes the faulting instruction.
        signal(sig, SIG_DFL);
    }
}

static void enter(struct guard *g) {
    if (!alt_stack) {
        stack_t now;
        if (sigaltstack(NULL, &now) == 0 && (now.ss_flags & SS_DISABLE)) {
            stack_t mine = {.ss_sp = malloc(1 << 16), .ss_size = 1 << 16, .ss_flags = 0};
            if (mine.ss_sp && sigaltstack(&mine, NULL) == 0) alt_stack = mine.ss_sp;
            else free(mine.ss_sp);
        }
        if (!alt_stack) alt_stack = (void *)1;  // one is already set (or none can be): keep it
    }
    pthread_mutex_lock(&install_lock);
    if (installed++ == 0) {
        if (!hdf5_hi) dl_iterate_phdr(find_hdf5, NULL);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_fault;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&sa.sa_mask);
        for (int i = 0; i < n_fault_signals; i++) sigaction(fault_signals[i], &sa, &previous[i]);
    }
    pthread_mutex_unlock(&install_lock);
    last_fault = 0;
    current = g;
}

static void leave(void) {
    current = NULL;
    pthread_mutex_lock(&install_lock);
    if (--installed == 0)
        for (int i = 0; i < n_fault_signals; i++) sigaction(fault_signals[i], &previous[i], NULL);
    pthread_mutex_unlock(&install_lock);
}

int h5g_take_fault(void) {
    int sig = last_fault;
    last_fault = 0;
    return sig;
}

// The jump point must live in the wrapper's own frame; `enter` runs after it is set.
#define GUARDED(type, failure, call)                          \
    struct guard g;                                           \
    if (sigsetjmp(g.jump, 1)) { leave(); return (failure); }  \
    enter(&g);                                                \
    type result = (call);                                     \
    leave();                                                  \
    return result;

hid_t h5g_fopen(const char *path, unsigned flags, hid_t fapl) { GUARDED(hid_t, -1, H5Fopen(path, flags, fapl)) }
herr_t h5g_fclose(hid_t file) { GUARDED(herr_t, -1, H5Fclose(file)) }
htri_t h5g_lexists(hid_t loc, const char *name) { GUARDED(htri_t, -1, H5Lexists(loc, name, H5P_DEFAULT)) }
hid_t h5g_dopen(hid_t loc, const char *name) { GUARDED(hid_t, -1, H5Dopen2(loc, name, H5P_DEFAULT)) }
herr_t h5g_dclose(hid_t dataset) { GUARDED(herr_t, -1, H5Dclose(dataset)) }
hid_t h5g_dget_type(hid_t dataset) { GUARDED(hid_t, -1, H5Dget_type(dataset)) }
hid_t h5g_dget_space(hid_t dataset) { GUARDED(hid_t, -1, H5Dget_space(dataset)) }
hid_t h5g_dget_create_plist(hid_t dataset) { GUARDED(hid_t, -1, H5Dget_create_plist(dataset)) }
hsize_t h5g_dget_storage_size(hid_t dataset) { GUARDED(hsize_t, 0, H5Dget_storage_size(dataset)) }
herr_t h5g_dread(hid_t dataset, hid_t mem_type, hid_t mem_space, hid_t file_space, hid_t dxpl, void *buf) {
    GUARDED(herr_t, -1, H5Dread(dataset, mem_type, mem_space, file_space, dxpl, buf))
}
herr_t h5g_ovisit(hid_t loc, H5_index_t index, H5_iter_order_t order, H5O_iterate_t op, void *op_data,
                  unsigned fields) {
    GUARDED(herr_t, -1, H5Ovisit2(loc, index, order, op, op_data, fields))
}
