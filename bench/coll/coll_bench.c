/* coll_bench: time Open MPI's own collectives at the sizes sparknet-mpi exchanges, blocking and
 * non-blocking, whole-buffer and segmented like Communicator.segmented
 * (Sources/SparkNetMPI/Communicator.swift: 16384-float segments, 4 in flight, waited in order,
 * in place, on a dup of MPI_COMM_WORLD).
 *
 *   mpicc -O2 -o /tmp/coll_bench bench/coll/coll_bench.c      (bench/coll/run.sh does this)
 *   mpirun -np K /tmp/coll_bench -n COUNT[,COUNT...] [-v VARIANT[,VARIANT...]] [-r REPEATS]
 *          [-w WARMUPS] [-s SEGMENT_FLOATS] [-f IN_FLIGHT] [-l LINK_RATE] [-o]
 *
 * Variants (default: all):
 *   allreduce        MPI_Allreduce(MPI_IN_PLACE) of the whole buffer              (blocking)
 *   iallreduce       MPI_Iallreduce(MPI_IN_PLACE) of the whole buffer + MPI_Wait
 *   seg-iallreduce   MPI_Iallreduce(MPI_IN_PLACE) in segments, F in flight       (= --sync average)
 *   reduce-bcast     MPI_Reduce to 0 + MPI_Bcast from 0, whole buffer             (blocking)
 *   ireduce-ibcast   MPI_Ireduce + wait, then MPI_Ibcast + wait, whole buffer
 *   seg-ireduce-ibcast  segmented MPI_Ireduce, then segmented MPI_Ibcast         (= --sync master)
 * -o uses separate send/receive buffers instead of MPI_IN_PLACE (libnbc picks its iallreduce
 * algorithm differently for in-place calls).
 *
 * Each repeat (after WARMUPS untimed ones, default 2) refills the buffer, passes a barrier, and lasts as long as
 * the slowest rank (MPI_MAX of the ranks' times), like `sparknet-mpi bench-exchange`. Output: one
 * line per size and variant: median and fastest time, algorithm bandwidth (bytes*8/time) and bus
 * bandwidth as nccl-tests and bench-exchange define it: allreduce 2(K-1)/K x algbw, reduce+bcast
 * 2 x algbw; with -l the ratio of busbw to the link rate (tc syntax: 100mbit, 1gbit, 10gbit).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

static MPI_Comm comm;
static int rank, size, seg = 16384, inflight = 4, outofplace = 0;
static float *buf, *sbuf;

static double rate_bps(const char *s) {
    char *end; double v = strtod(s, &end);
    if (!strcasecmp(end, "gbit")) return v * 1e9;
    if (!strcasecmp(end, "mbit")) return v * 1e6;
    if (!strcasecmp(end, "kbit")) return v * 1e3;
    return v;
}

static void wait1(MPI_Request *r) { MPI_Wait(r, MPI_STATUS_IGNORE); }

/* Communicator.segmented: post up to `inflight` segments ahead, wait for them in order. */
typedef void (*start_fn)(long off, int n, MPI_Request *r);
static void segmented(long n, start_fn start) {
    long step = seg, segments = (n + step - 1) / step, posted = 0;
    MPI_Request *req = malloc(sizeof(MPI_Request) * (segments ? segments : 1));
    for (long s = 0; s < segments; s++) {
        while (posted < segments && posted < s + inflight) {
            long off = posted * step;
            start(off, (int)(n - off < step ? n - off : step), &req[posted]);
            posted++;
        }
        wait1(&req[s]);
    }
    free(req);
}

static void st_iallreduce(long off, int n, MPI_Request *r) {
    if (outofplace) MPI_Iallreduce(sbuf + off, buf + off, n, MPI_FLOAT, MPI_SUM, comm, r);
    else MPI_Iallreduce(MPI_IN_PLACE, buf + off, n, MPI_FLOAT, MPI_SUM, comm, r);
}
static void st_ireduce(long off, int n, MPI_Request *r) {
    if (outofplace) MPI_Ireduce(sbuf + off, buf + off, n, MPI_FLOAT, MPI_SUM, 0, comm, r);
    else if (rank == 0) MPI_Ireduce(MPI_IN_PLACE, buf + off, n, MPI_FLOAT, MPI_SUM, 0, comm, r);
    else MPI_Ireduce(buf + off, NULL, n, MPI_FLOAT, MPI_SUM, 0, comm, r);
}
static void st_ibcast(long off, int n, MPI_Request *r) { MPI_Ibcast(buf + off, n, MPI_FLOAT, 0, comm, r); }

static void run(const char *v, long n) {
    MPI_Request r;
    int c = (int)n;
    void *in = outofplace ? (void *)sbuf : MPI_IN_PLACE;
    if (!strcmp(v, "allreduce")) MPI_Allreduce(in, buf, c, MPI_FLOAT, MPI_SUM, comm);
    else if (!strcmp(v, "iallreduce")) { MPI_Iallreduce(in, buf, c, MPI_FLOAT, MPI_SUM, comm, &r); wait1(&r); }
    else if (!strcmp(v, "seg-iallreduce")) segmented(n, st_iallreduce);
    else if (!strcmp(v, "reduce-bcast")) {
        if (outofplace) MPI_Reduce(sbuf, buf, c, MPI_FLOAT, MPI_SUM, 0, comm);
        else MPI_Reduce(rank == 0 ? MPI_IN_PLACE : buf, rank == 0 ? buf : NULL, c, MPI_FLOAT, MPI_SUM, 0, comm);
        MPI_Bcast(buf, c, MPI_FLOAT, 0, comm);
    } else if (!strcmp(v, "ireduce-ibcast")) {
        st_ireduce(0, c, &r); wait1(&r);
        MPI_Ibcast(buf, c, MPI_FLOAT, 0, comm, &r); wait1(&r);
    } else if (!strcmp(v, "seg-ireduce-ibcast")) { segmented(n, st_ireduce); segmented(n, st_ibcast); }
    else { if (rank == 0) fprintf(stderr, "coll_bench: unknown variant %s\n", v); MPI_Abort(MPI_COMM_WORLD, 2); }
}

static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_dup(MPI_COMM_WORLD, &comm);
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    char counts[1024] = "145578", variants[1024] = "allreduce,iallreduce,seg-iallreduce,reduce-bcast,ireduce-ibcast,seg-ireduce-ibcast";
    int repeats = 10, warmups = 2; double link = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-o")) { outofplace = 1; continue; }
        if (!next) break;
        if (!strcmp(a, "-n")) snprintf(counts, sizeof counts, "%s", next);
        else if (!strcmp(a, "-v")) snprintf(variants, sizeof variants, "%s", next);
        else if (!strcmp(a, "-r")) repeats = atoi(next);
        else if (!strcmp(a, "-w")) warmups = atoi(next);
        else if (!strcmp(a, "-s")) seg = atoi(next);
        else if (!strcmp(a, "-f")) inflight = atoi(next);
        else if (!strcmp(a, "-l")) link = rate_bps(next);
        else continue;
        i++;
    }
    /* placement: rank -> node */
    char name[MPI_MAX_PROCESSOR_NAME] = {0}, *all = NULL; int len;
    MPI_Get_processor_name(name, &len);
    if (rank == 0) all = calloc(size, MPI_MAX_PROCESSOR_NAME);
    MPI_Gather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 0, comm);
    if (rank == 0) {
        printf("coll_bench: %d ranks:", size);
        for (int r = 0; r < size; r++) printf(" %d@%s", r, all + r * MPI_MAX_PROCESSOR_NAME);
        printf("; segment %d floats x %d in flight; %s; %d repeats after %d untimed\n", seg, inflight, outofplace ? "out of place" : "in place", repeats, warmups);
        printf("%-19s %10s %10s %10s %10s %10s %10s%s\n", "variant", "floats", "bytes", "median_ms", "min_ms", "algbw_Gb/s", "busbw_Gb/s", link > 0 ? "  of_link" : "");
        free(all);
    }
    double *times = malloc(sizeof(double) * repeats);
    char *csave, *vsave;
    for (char *cs = strtok_r(counts, ",", &csave); cs; cs = strtok_r(NULL, ",", &csave)) {
        long n = atol(cs);
        buf = malloc(sizeof(float) * n); sbuf = malloc(sizeof(float) * n);
        char vl[1024]; snprintf(vl, sizeof vl, "%s", variants);
        for (char *v = strtok_r(vl, ",", &vsave); v; v = strtok_r(NULL, ",", &vsave)) {
            for (int r = 0; r < repeats + warmups; r++) {
                for (long i = 0; i < n; i++) buf[i] = sbuf[i] = (float)(rank + i % 7);
                MPI_Barrier(comm);
                double t0 = MPI_Wtime();
                run(v, n);
                double mine = MPI_Wtime() - t0, slowest;
                MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, comm);
                if (r >= warmups) times[r - warmups] = slowest;
            }
            /* check: allreduce/bcast results must be the sum over ranks */
            double expect = 0; for (int q = 0; q < size; q++) expect += q + (n - 1) % 7;
            int bad = buf[n - 1] != (float)expect;
            qsort(times, repeats, sizeof(double), cmp);
            double med = times[repeats / 2], algbw = n * 4.0 * 8 / med / 1e9;
            double bus = algbw * (strstr(v, "bcast") ? 2.0 : 2.0 * (size - 1) / size);
            if (rank == 0) {
                printf("%-19s %10ld %10ld %10.3f %10.3f %10.3f %10.3f", v, n, n * 4, med * 1e3, times[0] * 1e3, algbw, bus);
                if (link > 0) printf("  %6.1f%%", bus * 1e9 / link * 100);
                printf("%s\n", bad ? "  WRONG-RESULT" : "");
                fflush(stdout);
            }
        }
        free(buf); free(sbuf);
    }
    free(times);
    MPI_Comm_free(&comm);
    MPI_Finalize();
    return 0;
}
