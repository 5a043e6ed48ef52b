import CaffeProto

/// Caffe's Sigmoid layer (placeholder until implemented).
public final class SigmoidLayer: Layer {}
