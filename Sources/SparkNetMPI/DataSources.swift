import CaffeProto
import SparkNet

/// The data sources behind the engine's data layers, by layer type: HDF5Data reads HDF5 files
/// (`HDF5BatchSource`), Data reads Caffe's LMDBs and ImageData a list of image files (both
/// through `RecordBatchSource`).
public enum DataSources {
    /// A `NetContext.sourceProvider`: shards across `size` ranks and seeds shuffling, random
    /// crops and mirrors with `seed` (the solver's random_seed).
    public static func provider(seed: UInt64, rank: Int = MPIEnvironment.rank,
                                size: Int = MPIEnvironment.size)
        -> (Caffe_LayerParameter, Caffe_Phase) throws -> BatchSource {
        let hdf5 = HDF5BatchSource.provider(seed: seed, rank: rank, size: size)
        return { layer, phase in
            let label = "layer '\(layer.name)' (\(layer.type))"
            let t = layer.transformParam
            try require(!(t.forceColor && t.forceGray), "\(label): transform_param sets both force_color and force_gray")
            switch layer.type {
            case "Data":
                let p = layer.dataParam
                try require(p.hasSource && !p.source.isEmpty, "\(label): data_param.source is not set")
                // Caffe's default backend is LEVELDB; we read LMDB only.
                try require(p.backend == .lmdb,
                            "\(label): backend LEVELDB is not supported (data_param.source '\(p.source)'); convert the data to LMDB (`sparknet-mpi convert-imageset --backend lmdb`, or Caffe's convert_imageset --backend lmdb) and set `backend: LMDB`, or to HDF5 (`sparknet-mpi convert-imageset`) for an HDF5Data layer")
                let records = try LMDBRecords(path: p.source, layer: label, forceGray: t.forceGray)
                return try RecordBatchSource(reader: records, layer: layer, phase: phase, seed: seed,
                                             randSkip: Int(p.randSkip), shuffle: false, rank: rank, size: size)
            case "ImageData":
                let p = layer.imageDataParam
                try require(p.hasSource && !p.source.isEmpty, "\(label): image_data_param.source is not set")
                let records = try ImageListRecords(list: p.source, root: p.rootFolder, gray: !p.isColor,
                                                   height: Int(p.newHeight), width: Int(p.newWidth), layer: label)
                return try RecordBatchSource(reader: records, layer: layer, phase: phase, seed: seed,
                                             randSkip: Int(p.randSkip), shuffle: p.shuffle, rank: rank, size: size)
            default:
                return try hdf5(layer, phase)
            }
        }
    }
}
