import CaffeProto

/// Caffe's LRN layer (placeholder until implemented).
public final class LRNLayer: Layer {}
