import CaffeProto

/// Caffe's HDF5Data layer (placeholder until implemented).
public final class HDF5DataLayer: Layer {}
