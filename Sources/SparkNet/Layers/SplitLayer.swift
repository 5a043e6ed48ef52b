import CaffeProto

/// Caffe's Split layer (placeholder until implemented).
public final class SplitLayer: Layer {}
