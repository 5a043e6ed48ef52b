import CaffeProto

/// Caffe's Silence layer (placeholder until implemented).
public final class SilenceLayer: Layer {}
