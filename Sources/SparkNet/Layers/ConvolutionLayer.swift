import CaffeProto

/// Caffe's Convolution layer (placeholder until implemented).
public final class ConvolutionLayer: Layer {}
