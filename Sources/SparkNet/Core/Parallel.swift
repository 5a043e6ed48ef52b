import CBLAS
import CKernels
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// The engine's threads. A rank runs as many as OpenBLAS was started with
/// (`OPENBLAS_NUM_THREADS`, which the Slurm scripts set from `--cpus-per-task`), and takes them
/// over on first use: OpenBLAS runs single-threaded from then on, and `gemm` and the
/// convolution kernels split their work across these threads themselves. Sharing the cores with
/// OpenBLAS's own pool does not work: its idle workers spin (sched_yield) for ~0.1 s after every
/// call, on the very cores the kernels need. The parts run on CKernels' pool (`ck_parallel`),
/// whose workers wait for the next region spinning briefly: Dispatch's wake-up per region cost
/// ResNet-20's 2-thread step about a fifth.
///
/// Work is split into contiguous parts (images, rows or columns of the result) that each write
/// their own outputs; the convolution kernels compute every output exactly as one thread
/// would, so their results do not depend on the thread count.
public enum Parallel {
    private static let configured: Int = {
        let n = Int(openblas_get_num_threads())
        openblas_set_num_threads(1)
        stopBLASWorkers()
        return max(1, n)
    }()

    /// Ends OpenBLAS's worker threads, which it starts when the library loads and which then
    /// spin for ~0.1 s: on 2 cores LeNet's first 7 steps took 12–15 ms instead of 4–6 while
    /// they did. OpenBLAS restarts them itself if asked for more threads again. Looked up at run
    /// time, since only OpenBLAS's pthreads build has `blas_thread_shutdown_`.
    private static func stopBLASWorkers() {
        #if os(Linux)
        guard let f = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "blas_thread_shutdown_") else { return }
        _ = unsafeBitCast(f, to: (@convention(c) () -> Int32).self)()
        #endif
    }

    /// A thread count that replaces the configured one (tests set it; nil restores it).
    nonisolated(unsafe) public static var forcedThreads: Int? = nil

    /// Threads the engine uses.
    public static var threads: Int { max(1, min(64, forcedThreads ?? configured)) }

    /// Runs body(part, range) over at most `limit` (and `threads`) contiguous, balanced ranges
    /// of 0..<n, in parallel, and returns when all are done. `limit` is what a layer reserved
    /// per-thread scratch for.
    static func forEachRange(_ n: Int, limit: Int = .max, _ body: (_ part: Int, _ range: Range<Int>) -> Void) {
        let parts = min(threads, limit, n)
        if parts <= 1 {
            if n > 0 { body(0, 0..<n) }
            return
        }
        // The parts write disjoint memory through the caller's pointers; ck_parallel (and
        // concurrentPerform) return only when every part is done, so the body never outlives
        // this call.
        withoutActuallyEscaping(body) { body in
            var region = Region(n: n, parts: parts, body: body)
            let ran = withUnsafeMutablePointer(to: &region) { ctx in
                ck_parallel(Int32(parts), { ctx, p in
                    let region = ctx!.assumingMemoryBound(to: Region.self)
                    let (n, parts, p) = (region.pointee.n, region.pointee.parts, Int(p))
                    region.pointee.body(p, (n * p / parts)..<(n * (p + 1) / parts))
                }, ctx)
            }
            guard ran == 0 else { return }
            let work = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: parts) { p in
                work.value(p, (n * p / parts)..<(n * (p + 1) / parts))
            }
        }
    }

    /// body(range) over the fixed blocks [b·block, (b+1)·block) ∩ 0..<n, threads taking runs of
    /// whole blocks, in parallel when n is at least `grain`. The ranges do not depend on the
    /// thread count, so a kernel whose rounding depends on where a range ends (a vector loop's
    /// scalar tail) still gives the same bits at any thread count.
    static func forEachBlock(_ n: Int, block: Int = 1 << 14, grain: Int = 1 << 16, _ body: (_ range: Range<Int>) -> Void) {
        let blocks = (n + block - 1) / block
        forEachRange(blocks, limit: n >= grain ? .max : 1) { _, r in
            for b in r { body(b * block..<min(n, (b + 1) * block)) }
        }
    }

    /// body(range) over contiguous slices of 0..<n, in parallel when n is at least `grain`
    /// (element-wise loops: below that a hand-off costs more than it saves).
    static func forEachSlice(_ n: Int, grain: Int = 1 << 16, _ body: (_ range: Range<Int>) -> Void) {
        forEachRange(n, limit: n >= grain ? .max : 1) { _, r in body(r) }
    }
}

/// One parallel region, as ck_parallel's parts see it.
private struct Region {
    let n: Int
    let parts: Int
    let body: (_ part: Int, _ range: Range<Int>) -> Void
}

private struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
