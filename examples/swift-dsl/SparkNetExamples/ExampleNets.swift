import SparkNet

/// The repository's example nets written in Swift. Each has a prototxt twin in the repository
/// (`twins`), and the tests check that the two are equal field for field.
public enum ExampleNets {
    /// Every example net by the name `swift-dsl-example` knows it by, with its twin's path
    /// (relative to the repository root).
    public static let all: [(name: String, net: NetSpec, twin: String)] = [
        ("lenet", lenet, "examples/fashion-mnist/lenet_train_test.prototxt"),
        ("cifar10-quick", cifar10Quick, "bench/nets/cifar10_quick_train.prototxt"),
        ("resnet", fashionResNet, "examples/fashion-mnist-resnet/resnet_train_test.prototxt"),
        ("alexnet-deploy", alexNet, "examples/deploy/alexnet_deploy.prototxt"),
        ("googlenet-deploy", googLeNet, "examples/deploy/googlenet_deploy.prototxt"),
    ]

    /// The example solvers, likewise.
    public static let solvers: [(name: String, solver: SolverSpec, twin: String)] = [
        ("lenet", lenetSolver, "examples/fashion-mnist/lenet_solver.prototxt"),
        ("resnet", fashionResNetSolver, "examples/fashion-mnist-resnet/resnet_solver.prototxt"),
    ]
}
