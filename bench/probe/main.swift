// sparknet-bench: the measurements `make bench` needs beyond `sparknet-mpi time`.
//
//   sparknet-bench sgemm --threads N [--size 1024] [--iterations K]
//       OpenBLAS sgemm C = A·B on size² matrices: the peak the engine is measured against.
//   sparknet-bench step --model NET [--iterations K] [--warmup W] [--tau T]
//       Full solver steps (forward, backward, SGD momentum update) on a net fed by Input layers.
//       Under `mpirun -np K`, every rank steps its own replica at the same time; with --tau T the
//       ranks average their weights every T steps (`train --sync average`), inside the timing.
//   sparknet-bench allreduce --model NET [--iterations K]
//       Under mpirun: a bare in-place MPI_Allreduce of as many floats as NET has weights,
//       alternating with the engine's model averaging as training runs it: the round's last
//       update takes the 1/K (zero gradients), then ModelAverage.endRound is timed
//       (average_ms); also a round ending without that update, allreduce + scale
//       (average_unprescaled_ms). The plain and the scaled weight update are timed apart
//       (update_ms, update_scaled_ms), so the moved cost shows.
//
// Each prints one JSON line on rank 0. Times are per iteration, in ms; with several ranks each
// iteration's time is the slowest rank's (MPI_MAX), as a synchronous job would see it.

import CBLAS
import CMPI
import CaffeProto
import Foundation
import SparkNet
import SparkNetMPI

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
func ms(_ a: UInt64, _ b: UInt64) -> Double { Double(b &- a) * 1e-6 }

/// Peak resident set size of this process, in bytes.
func peakRSS() -> Int {
    var u = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
    return Int(u.ru_maxrss) * 1024
}

/// Current resident set size, in bytes (VmRSS of /proc/self/status).
func currentRSS() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        let kb = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return kb * 1024
    }
    return 0
}

struct Options {
    var values: [String: String] = [:]
    init(_ args: ArraySlice<String>) {
        var it = args.makeIterator()
        while let a = it.next() {
            guard a.hasPrefix("--") else { continue }
            values[String(a.dropFirst(2))] = it.next() ?? ""
        }
    }
    func int(_ k: String, _ d: Int) -> Int { values[k].flatMap { Int($0) } ?? d }
    func string(_ k: String) -> String? { values[k] }
}

func json(_ pairs: [(String, Any)]) -> String {
    func enc(_ v: Any) -> String {
        switch v {
        case let d as Double: return d.isFinite ? String(format: "%.6g", d) : "null"
        case let i as Int: return String(i)
        case let s as String: return "\"\(s)\""
        case let a as [Double]: return "[" + a.map { enc($0) }.joined(separator: ",") + "]"
        case let a as [Int]: return "[" + a.map { String($0) }.joined(separator: ",") + "]"
        default: return "\"\(v)\""
        }
    }
    return "{" + pairs.map { "\"\($0.0)\": \(enc($0.1))" }.joined(separator: ", ") + "}"
}

/// Slowest rank's value of each entry.
func slowest(_ v: [Double], _ comm: Communicator) -> [Double] { comm.allreduce(v, .max) }

/// Floats of activation data and of activation diffs, each memory counted once: in-place tops,
/// and Split, Flatten and Reshape tops that share their bottom's data (and diff), are not extra.
func activationCount(_ net: Net) -> (data: Int, diff: Int) {
    func unique(_ pointer: (Blob) -> UnsafeMutablePointer<Float>) -> Int {
        var largest: [UnsafeMutablePointer<Float>: Int] = [:]
        for b in net.blobs { largest[pointer(b)] = max(largest[pointer(b)] ?? 0, b.count) }
        return largest.values.reduce(0, +)
    }
    return (unique(\.data), unique(\.diff))
}

/// FLOPs of one training step: 2·m·n·k per product of every convolution and inner product,
/// forward and weight gradient, plus the input gradient where the net propagates one.
func stepFlops(_ net: Net) -> Double {
    var flops = 0.0
    for (l, layer) in net.layers.enumerated() where layer is ConvolutionLayer || layer is InnerProductLayer {
        guard let w = layer.blobs.first, let top = net.tops[l].first, let n = top.shape.first else { continue }
        let positions = layer is ConvolutionLayer ? top.shape.dropFirst(2).reduce(1, *) : 1
        let passes = net.bottomNeedBackward[l].first == true ? 3.0 : 2.0
        flops += passes * 2 * Double(w.count * positions * n)
    }
    return flops
}

func sgemmProbe(_ o: Options) {
    let n = o.int("size", 1024), iters = o.int("iterations", 10)
    openblas_set_num_threads(Int32(o.int("threads", 1)))
    let a = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
    let b = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
    let c = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
    var rng = RandomGenerator(seed: 7)
    for i in 0..<(n * n) { a[i] = rng.nextUnit() - 0.5; b[i] = rng.nextUnit() - 0.5; c[i] = 0 }
    var gflops: [Double] = []
    for i in 0..<(iters + 2) {
        let t = now()
        // OpenBLAS's own threads here (the engine's gemm would split the product itself)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(n), blasint(n), blasint(n), 1,
                    a, blasint(n), b, blasint(n), 0, c, blasint(n))
        let dt = ms(t, now())
        if i >= 2 { gflops.append(2 * Double(n * n * n) / (dt * 1e6)) }
    }
    print(json([("probe", "sgemm"), ("size", n), ("threads", Int(openblas_get_num_threads())), ("gflops", gflops)]))
}

func stepProbe(_ o: Options) throws {
    guard let model = o.string("model") else { throw SparkNetError("step: --model is required") }
    let comm = Communicator.world
    let iters = o.int("iterations", 20), warmup = o.int("warmup", 3), tau = o.int("tau", 0)
    let overhead = currentRSS()   // runtime + MPI + BLAS, before the net exists
    let solver = try BenchmarkSolver.make(model: model, noiseSeed: 1701 &+ UInt64(MPIEnvironment.rank))
    let sync = tau > 0 ? try makeSynchronizer(.average, communicator: comm) : nil
    // at least `warmup` steps and 0.3 s, as bench/torch_nets.py does for PyTorch
    let warm = now()
    var warmed = 0
    while warmed < warmup || ms(warm, now()) < 300 {
        try solver.step(1)
        warmed += 1
    }
    comm.barrier()
    var perStep: [Double] = []
    let start = now()
    for i in 1...iters {
        let t = now()
        if let sync, i % tau == 0 { sync.prepareRoundEnd(solver) }
        try solver.step(1)
        if let sync, i % tau == 0 { try sync.endRound(solver) }
        perStep.append(ms(t, now()))
    }
    let total = ms(start, now())
    let net = solver.net
    let batch = net.blobs.first?.shape.first ?? 0
    let activations = activationCount(net)
    let maxTotal = comm.allreduce([total], .max)[0]
    let peaks = comm.allreduce([Double(peakRSS())], .max)[0]
    let perRank = slowest(perStep, comm)
    if comm.isRoot {
        print(json([("probe", "step"), ("model", model), ("ranks", comm.size), ("threads", Parallel.threads),
                    ("tau", tau), ("batch", batch), ("ms", perRank), ("flops", stepFlops(net)),
                    ("kernel_path", ConvolutionLayer.kernelPath),
                    ("images_per_s", Double(comm.size * batch * iters) / (maxTotal / 1e3)),
                    ("params", net.parameterCount), ("activations", activations.data),
                    ("activation_diffs", activations.diff),
                    ("workspace", net.context.workspace.capacity),
                    ("history_arenas", solver.historyArenas.count),
                    ("rss_overhead", overhead), ("peak_rss", Int(peaks))]))
    }
}

func allreduceProbe(_ o: Options) throws {
    guard let model = o.string("model") else { throw SparkNetError("allreduce: --model is required") }
    let comm = Communicator.world
    let iters = o.int("iterations", 50)
    let solver = try BenchmarkSolver.make(model: model, noiseSeed: 1701 &+ UInt64(MPIEnvironment.rank))
    let sync = try makeSynchronizer(.average, communicator: comm)
    let n = solver.net.weights.count
    let bare = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
    bare.initialize(repeating: 0)   // stays 0: repeated in-place sums never overflow
    // Zero gradients: the plain update leaves the weights as they are, and the scaled one
    // followed by the sum over ranks gives them back (every rank holds the same weights).
    solver.net.clearParamDiffs()
    var bareMs: [Double] = [], averageMs: [Double] = [], unprescaledMs: [Double] = []
    var updateMs: [Double] = [], scaledMs: [Double] = []
    // Each exchange first writes its buffer, as an update does to the weights in training, and
    // the three take turns going first: otherwise their order decides which finds its buffer
    // cached and the ranks in step.
    func timeBare() -> Double {
        setAll(n, 0, bare.baseAddress!)
        comm.barrier()
        let t = now()
        MPI_Allreduce(cmpi_in_place(), bare.baseAddress, Int32(n), cmpi_float(), cmpi_op_sum(), comm.comm)
        return ms(t, now())
    }
    func timeAverage() throws -> (update: Double, scaled: Double, exchange: Double) {
        var t = now()
        solver.net.update()
        let u = ms(t, now())
        // What the trainer does before a round's last update, then that update as
        // Solver.applyUpdate applies it: the 1/K is part of the step, not of the exchange.
        sync.prepareRoundEnd(solver)
        let scale = solver.nextUpdateScale
        t = now()
        solver.net.update(scale: scale)
        let us = ms(t, now())
        solver.nextUpdateScale = 1
        comm.barrier()
        t = now()
        try sync.endRound(solver)
        return (u, us, ms(t, now()))
    }
    // A round that ends without a scaled update (on time): allreduce and a scale pass.
    func timeUnprescaled() throws -> Double {
        solver.net.update()
        comm.barrier()
        let t = now()
        try sync.endRound(solver)
        return ms(t, now())
    }
    for i in 0..<(iters + 6) {
        var b = 0.0, a1 = 0.0, a = (update: 0.0, scaled: 0.0, exchange: 0.0)
        for turn in 0..<3 {
            switch (i + turn) % 3 {
            case 0: b = timeBare()
            case 1: a = try timeAverage()
            default: a1 = try timeUnprescaled()
            }
        }
        if i >= 6 {
            bareMs.append(b); averageMs.append(a.exchange); unprescaledMs.append(a1)
            updateMs.append(a.update); scaledMs.append(a.scaled)
        }
    }
    let bareMax = slowest(bareMs, comm), averageMax = slowest(averageMs, comm)
    let unprescaledMax = slowest(unprescaledMs, comm)
    let updateMax = slowest(updateMs, comm), scaledMax = slowest(scaledMs, comm)
    if comm.isRoot {
        print(json([("probe", "allreduce"), ("model", model), ("ranks", comm.size), ("floats", n),
                    ("bare_ms", bareMax), ("average_ms", averageMax),
                    ("average_unprescaled_ms", unprescaledMax),
                    ("update_ms", updateMax), ("update_scaled_ms", scaledMax)]))
    }
}

MPIEnvironment.initialize()
let args = CommandLine.arguments
let options = Options(args.dropFirst(2))
do {
    switch args.count > 1 ? args[1] : "" {
    case "sgemm": sgemmProbe(options)
    case "step": try stepProbe(options)
    case "allreduce": try allreduceProbe(options)
    default:
        FileHandle.standardError.write(Data("usage: sparknet-bench sgemm|step|allreduce [--options]\n".utf8))
        exit(2)
    }
} catch {
    FileHandle.standardError.write(Data("sparknet-bench: error: \(error)\n".utf8))
    exit(1)
}
