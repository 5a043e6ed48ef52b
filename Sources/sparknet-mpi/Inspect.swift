import ArgumentParser
import CaffeProto
import Foundation
import SparkNet
import SparkNetMPI

/// `sparknet-mpi inspect`: what a model, solver state or HDF5 file holds.
struct Inspect: Verb {
    static let configuration = CommandConfiguration(
        abstract: "Show layers, blob shapes and L2 norms of a .caffemodel (or a .solverstate, or an HDF5 file).")

    @Argument(help: "A .caffemodel, .solverstate, or .h5 file.")
    var file: String

    func run() throws {
        // One reader: rank 0 inspects and the others learn whether it failed, so under mpirun
        // the listing, or the error, appears once and every rank exits alike.
        try Communicator.world.agreeOnRoot(timeout: .infinity) { try inspect() }
    }

    private func inspect() throws {
        guard FileManager.default.fileExists(atPath: file) else {
            throw SparkNetError("\(file): file not found")
        }
        if HDF5Contents.isHDF5(file) {
            try inspectHDF5()
            return
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw SparkNetError("\(file): cannot read the file")
        }
        if file.hasSuffix(".solverstate") {
            try inspectSolverState(data)
        } else {
            try inspectModel(data)
        }
    }

    private func inspectModel(_ data: Data) throws {
        let net: Caffe_NetParameter
        do {
            net = try Caffe_NetParameter(serializedBytes: data)
        } catch {
            throw SparkNetError("\(file): not a valid .caffemodel (truncated or corrupt: \(error))")
        }
        let legacy = !net.layers.isEmpty
        let count = legacy ? net.layers.count : net.layer.count
        Log.plain("\(file): net '\(net.name)', \(count) layers\(legacy ? " (legacy V1 format)" : "")")
        var total = 0, blobs = 0
        let layers: [(String, String, [Caffe_BlobProto])] = legacy
            ? net.layers.map { ($0.name, "\($0.type)", $0.blobs) }
            : net.layer.map { ($0.name, $0.type, $0.blobs) }
        for (name, type, protos) in layers {
            Log.plain("layer '\(name)' (\(type))\(protos.isEmpty ? "" : ": \(protos.count) blobs")")
            for (i, b) in protos.enumerated() {
                let line = try describe(b, what: "layer '\(name)' blob \(i)")
                Log.plain("  blob \(i): \(line.text)")
                total += line.count
                blobs += 1
            }
        }
        Log.plain("total: \(total) parameters in \(blobs) blobs")
    }

    private func inspectSolverState(_ data: Data) throws {
        let state: Caffe_SolverState
        do {
            state = try Caffe_SolverState(serializedBytes: data)
        } catch {
            throw SparkNetError("\(file): not a valid .solverstate (truncated or corrupt: \(error))")
        }
        Log.plain("\(file): solver state")
        Log.plain("iter: \(state.iter)")
        Log.plain("learned_net: \(state.learnedNet)")
        Log.plain("current_step: \(state.currentStep)")
        Log.plain("history: \(state.history.count) blobs")
        for (i, b) in state.history.enumerated() {
            Log.plain("  history \(i): \(try describe(b, what: "history blob \(i)").text)")
        }
    }

    private func inspectHDF5() throws {
        Log.plain("\(file): HDF5")
        for d in try HDF5Contents.datasets(in: file) {
            let l2 = d.values.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let lo = d.values.min() ?? 0, hi = d.values.max() ?? 0
            Log.plain("  \(d.path): \(d.shape.map(String.init).joined(separator: " ")) (\(d.values.count))  L2 = \(fmt(l2))  min = \(lo)  max = \(hi)")
        }
    }

    /// "20 1 5 5 (500)  L2 = 3.21", after checking the value count matches the shape.
    private func describe(_ b: Caffe_BlobProto, what: String) throws -> (text: String, count: Int) {
        let shape = BlobCodec.shape(of: b)
        let n = try BlobCodec.count(of: b, what: "\(file): \(what)")
        let values = b.doubleData.isEmpty ? b.data.map(Double.init) : b.doubleData
        guard values.count == n else {
            throw SparkNetError("\(file): \(what) has \(values.count) values for shape \(shape) (\(n)); the file is corrupt")
        }
        let l2 = values.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
        return ("\(shape.map(String.init).joined(separator: " ")) (\(n))  L2 = \(fmt(l2))", n)
    }

    private func fmt(_ x: Double) -> String { String(format: "%.6g", x) }
}
