import CaffeProto

/// Caffe's TanH layer (placeholder until implemented).
public final class TanHLayer: Layer {}
