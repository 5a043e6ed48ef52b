import CaffeProto
import SparkNet

/// The solver that benchmarks step (`plan`, `make bench`'s probe): SGD with Caffe's LeNet
/// settings (lr 0.01 fixed, momentum 0.9, weight decay 5e-4) around a net prototxt, no display
/// or snapshots; data layers read their sources, Input layers get uniform noise.
public enum BenchmarkSolver {
    public static func make(model: String, seed: UInt64 = 1701, noiseSeed: UInt64 = 1701) throws -> Solver {
        var sp = Caffe_SolverParameter()
        sp.netParam = try Prototxt.readNet(model)
        sp.baseLr = 0.01
        sp.momentum = 0.9
        sp.weightDecay = 5e-4
        sp.lrPolicy = "fixed"
        sp.display = 0
        sp.maxIter = Int32.max
        sp.snapshot = 0
        sp.snapshotAfterTrain = false
        sp.randomSeed = Int64(seed)
        let solver = try Solver(param: sp, context: NetContext(seed: seed, sourceProvider: DataSources.provider(seed: seed)))
        solver.writesFiles = false
        solver.net.fillInputsWithNoise(seed: noiseSeed)
        return solver
    }
}
