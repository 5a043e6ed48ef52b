import CaffeProto
import SparkNet

extension ExampleNets {
    /// AlexNet for inference (grouped convolutions, LRN, Dropout): the twin of
    /// examples/deploy/alexnet_deploy.prototxt.
    public static var alexNet: NetSpec {
        NetSpec("AlexNet") {
            Input("data", shapes: ["data": [2, 3, 227, 227]])
            alexConvolution("conv1", outputs: 96, kernel: 11, stride: 4, bias: 0)
            ReLU("relu1")
            LRN("norm1", localSize: 5, alpha: 0.0001, beta: 0.75)
            Pooling("pool1", .max, kernel: 3, stride: 2)
            alexConvolution("conv2", outputs: 256, kernel: 5, pad: 2, group: 2, bias: 0.1)
            ReLU("relu2")
            LRN("norm2", localSize: 5, alpha: 0.0001, beta: 0.75)
            Pooling("pool2", .max, kernel: 3, stride: 2)
            alexConvolution("conv3", outputs: 384, kernel: 3, pad: 1, bias: 0)
            ReLU("relu3")
            alexConvolution("conv4", outputs: 384, kernel: 3, pad: 1, group: 2, bias: 0.1)
            ReLU("relu4")
            alexConvolution("conv5", outputs: 256, kernel: 3, pad: 1, group: 2, bias: 0.1)
            ReLU("relu5")
            Pooling("pool5", .max, kernel: 3, stride: 2)
            for (i, outputs) in [(6, 4096), (7, 4096)] {
                alexFullyConnected("fc\(i)", outputs: outputs, std: 0.005, bias: 0.1)
                ReLU("relu\(i)")
                Dropout("drop\(i)", ratio: 0.5)
            }
            alexFullyConnected("fc8", outputs: 1000, std: 0.01, bias: 0)
            Softmax("prob")
        }
    }

    /// AlexNet's convolutions: Gaussian weights (std 0.01), constant bias, bias at 2× rate without decay.
    private static func alexConvolution(_ name: String, outputs: Int, kernel: Int, stride: Int? = nil, pad: Int? = nil,
                                    group: Int? = nil, bias: Float) -> Convolution {
        Convolution(name, outputs: outputs, kernel: kernel, stride: stride, pad: pad, group: group,
                    weightFiller: .gaussian(std: 0.01), biasFiller: .constant(bias))
            .param(lr: 1, decay: 1).param(lr: 2, decay: 0)
    }

    private static func alexFullyConnected(_ name: String, outputs: Int, std: Float, bias: Float) -> InnerProduct {
        InnerProduct(name, outputs: outputs, weightFiller: .gaussian(std: std), biasFiller: .constant(bias))
            .param(lr: 1, decay: 1).param(lr: 2, decay: 0)
    }
}
