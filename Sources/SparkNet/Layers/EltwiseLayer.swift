import CaffeProto

/// Caffe's Eltwise layer (placeholder until implemented).
public final class EltwiseLayer: Layer {}
