import CaffeProto
import SparkNet

extension ExampleNets {
    /// GoogLeNet's stem and its first two inception modules, for inference: the twin of
    /// examples/deploy/googlenet_deploy.prototxt.
    public static var googLeNet: NetSpec {
        NetSpec("GoogleNet") {
            Input("data", shapes: ["data": [2, 3, 224, 224]])
            convolutionReLU("conv1/7x7_s2", relu: "conv1/relu_7x7", outputs: 64, kernel: 7, stride: 2, pad: 3)
            Pooling("pool1/3x3_s2", .max, kernel: 3, stride: 2)
            LRN("pool1/norm1", localSize: 5, alpha: 0.0001, beta: 0.75)
            convolutionReLU("conv2/3x3_reduce", relu: "conv2/relu_3x3_reduce", outputs: 64, kernel: 1)
            convolutionReLU("conv2/3x3", relu: "conv2/relu_3x3", outputs: 192, kernel: 3, pad: 1)
            LRN("conv2/norm2", localSize: 5, alpha: 0.0001, beta: 0.75)
            Pooling("pool2/3x3_s2", .max, kernel: 3, stride: 2)
            inception("inception_3a", input: "pool2/3x3_s2", outputs: (64, 96, 128, 16, 32, 32))
            inception("inception_3b", input: "inception_3a/output", outputs: (128, 128, 192, 32, 96, 64))
            Pooling("pool3/3x3_s2", .max, kernel: 3, stride: 2)
            Pooling("pool5/7x7_s1", global: .ave)
            Dropout("pool5/drop_7x7_s1", ratio: 0.4)
            InnerProduct("loss3/classifier", outputs: 1000, weightFiller: .xavier(), biasFiller: .constant(0))
                .param(lr: 1, decay: 1).param(lr: 2, decay: 0)
            Softmax("prob")
        }
    }

    /// An inception module: 1×1, 1×1 → 3×3, 1×1 → 5×5 and 3×3 max pooling → 1×1 branches on
    /// `input`, joined along channels into `<name>/output`. `outputs` are the channels of the
    /// 1×1, 3×3 reduce, 3×3, 5×5 reduce, 5×5 and pool projection convolutions.
    static func inception(_ name: String, input: BlobRef,
                          outputs o: (Int, Int, Int, Int, Int, Int)) -> LayerGroup {
        LayerGroup {
            convolutionReLU("\(name)/1x1", relu: "\(name)/relu_1x1", bottom: input, outputs: o.0, kernel: 1)
            convolutionReLU("\(name)/3x3_reduce", relu: "\(name)/relu_3x3_reduce", bottom: input, outputs: o.1, kernel: 1)
            convolutionReLU("\(name)/3x3", relu: "\(name)/relu_3x3", outputs: o.2, kernel: 3, pad: 1)
            convolutionReLU("\(name)/5x5_reduce", relu: "\(name)/relu_5x5_reduce", bottom: input, outputs: o.3, kernel: 1)
            convolutionReLU("\(name)/5x5", relu: "\(name)/relu_5x5", outputs: o.4, kernel: 5, pad: 2)
            Pooling("\(name)/pool", .max, bottom: input, kernel: 3, stride: 1, pad: 1)
            convolutionReLU("\(name)/pool_proj", relu: "\(name)/relu_pool_proj", outputs: o.5, kernel: 1)
            Concat("\(name)/output", bottoms: ["\(name)/1x1", "\(name)/3x3", "\(name)/5x5", "\(name)/pool_proj"])
        }
    }

    /// A convolution (Xavier weights, bias 0.2 at 2× rate without decay) and its in-place ReLU.
    static func convolutionReLU(_ name: String, relu: String, bottom: BlobRef? = nil, outputs: Int, kernel: Int,
                                stride: Int? = nil, pad: Int? = nil) -> LayerGroup {
        LayerGroup {
            Convolution(name, bottom: bottom, outputs: outputs, kernel: kernel, stride: stride, pad: pad,
                        weightFiller: .xavier(), biasFiller: .constant(0.2))
                .param(lr: 1, decay: 1).param(lr: 2, decay: 0)
            ReLU(relu)
        }
    }
}
