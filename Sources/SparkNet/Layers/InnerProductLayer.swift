import CaffeProto

/// Caffe's InnerProduct layer (placeholder until implemented).
public final class InnerProductLayer: Layer {}
