import CaffeProto
import SparkNet

extension ExampleNets {
    /// The small residual net for Fashion-MNIST: the twin of
    /// examples/fashion-mnist-resnet/resnet_train_test.prototxt. conv1 (16 channels), then three
    /// stages of one basic block each (16, 32 and 64 channels; stages 2 and 3 halve the size and
    /// project the shortcut), global average pooling, and a 10-way classifier.
    public static var fashionResNet: NetSpec {
        NetSpec("FashionResNet") {
            HDF5Data("fashion", tops: ["data", "label"], source: "data/fashion-mnist/train.txt",
                     batchSize: 64, shuffle: true)
                .include(.train)
            HDF5Data("fashion", tops: ["data", "label"], source: "data/fashion-mnist/test.txt", batchSize: 100)
                .include(.test)
            convBNScale("conv1", bn: "bn_conv1", scale: "scale_conv1", bottom: "data", outputs: 16)
            ReLU("conv1_relu")
            residualBlock(stage: 1, input: "conv1", outputs: 16, downsample: false)
            residualBlock(stage: 2, input: "res1a", outputs: 32, downsample: true)
            residualBlock(stage: 3, input: "res2a", outputs: 64, downsample: true)
            Pooling("pool", global: .ave)
            InnerProduct("fc10", outputs: 10, weightFiller: .msra(), biasFiller: .constant(0))
                .param(lr: 1, decay: 1).param(lr: 2, decay: 0)
            Accuracy("accuracy", bottoms: ["fc10", "label"])
                .include(.test)
            SoftmaxWithLoss("loss", bottoms: ["fc10", "label"])
        }
    }

    /// Block `res<stage>a`: two 3×3 convolutions (BatchNorm + Scale each, ReLU between), added to
    /// the input (through a 1×1 stride-2 projection when `downsample`), then ReLU.
    static func residualBlock(stage s: Int, input: BlobRef, outputs: Int, downsample: Bool) -> LayerGroup {
        let block = "res\(s)a"
        let stride = downsample ? 2 : nil
        return LayerGroup {
            convBNScale("\(block)_branch2a", bn: "bn\(s)a_branch2a", scale: "scale\(s)a_branch2a",
                        bottom: input, outputs: outputs, stride: stride)
            ReLU("\(block)_branch2a_relu")
            convBNScale("\(block)_branch2b", bn: "bn\(s)a_branch2b", scale: "scale\(s)a_branch2b",
                        outputs: outputs)
            if downsample {
                convBNScale("\(block)_branch1", bn: "bn\(s)a_branch1", scale: "scale\(s)a_branch1",
                            bottom: input, outputs: outputs, kernel: 1, stride: 2, pad: nil)
                Eltwise(block, bottoms: ["\(block)_branch1", "\(block)_branch2b"], operation: .sum)
            } else {
                Eltwise(block, bottoms: [input, "\(block)_branch2b"], operation: .sum)
            }
            ReLU("\(block)_relu")
        }
    }

    /// A bias-free convolution (MSRA weights) followed by in-place BatchNorm (statistics only:
    /// lr_mult 0) and Scale with a bias.
    static func convBNScale(_ name: String, bn: String, scale: String, bottom: BlobRef? = nil, outputs: Int,
                            kernel: Int = 3, stride: Int? = nil, pad: Int? = 1) -> LayerGroup {
        LayerGroup {
            Convolution(name, bottom: bottom, outputs: outputs, kernel: kernel, stride: stride, pad: pad,
                        biasTerm: false, weightFiller: .msra())
                .param(lr: 1, decay: 1)
            BatchNorm(bn, movingAverageFraction: 0.99)
                .param(lr: 0, decay: 0).param(lr: 0, decay: 0).param(lr: 0, decay: 0)
            Scale(scale, biasTerm: true)
        }
    }

    /// The twin of examples/fashion-mnist-resnet/resnet_solver.prototxt.
    public static var fashionResNetSolver: SolverSpec {
        SolverSpec(baseLR: 0.1, policy: .poly(power: 1))
            .net(file: "examples/fashion-mnist-resnet/resnet_train_test.prototxt")
            .test(iterations: 100, every: 1000)
            .momentum(0.9)
            .weightDecay(0.0005)
            .display(100)
            .maxIter(4000)
            .snapshot(every: 0, prefix: "snapshots/fashion-mnist-resnet/resnet")
            .randomSeed(1701)
            .mode(.cpu)
    }
}
