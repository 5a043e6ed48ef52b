import Foundation
import CaffeProto

/// Caffe's UpgradeSolverAsNeeded + UpgradeSnapshotPrefixProperty (upgrade_proto.cpp).
public enum SolverUpgrade {
    /// Replaces the enum `solver_type` by the string `type`, and, when the solver came from a
    /// file, defaults `snapshot_prefix` to the file's path without extension (or appends the
    /// file's stem when the prefix is a directory).
    public static func upgrade(_ param: Caffe_SolverParameter, solverPath: String?) throws -> Caffe_SolverParameter {
        var p = param
        let source = solverPath ?? "solver"
        if p.hasSolverType {
            try require(!p.hasType,
                        "\(source): failed to upgrade solver: old solver_type field (enum) and new type field (string) cannot be both specified")
            switch p.solverType {
            case .sgd: p.type = "SGD"
            case .nesterov: p.type = "Nesterov"
            case .adagrad: p.type = "AdaGrad"
            case .rmsprop: p.type = "RMSProp"
            case .adadelta: p.type = "AdaDelta"
            case .adam: p.type = "Adam"
            }
            p.clearSolverType()
        }
        if let file = solverPath {
            let url = URL(fileURLWithPath: file)
            if !p.hasSnapshotPrefix {
                // boost::filesystem::path(file).replace_extension()
                let ext = url.pathExtension
                p.snapshotPrefix = ext.isEmpty ? file : String(file.dropLast(ext.count + 1))
            } else {
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: p.snapshotPrefix, isDirectory: &isDir), isDir.boolValue {
                    let stem = url.deletingPathExtension().lastPathComponent
                    p.snapshotPrefix = URL(fileURLWithPath: p.snapshotPrefix).appendingPathComponent(stem).path
                    if !param.snapshotPrefix.hasPrefix("/") {
                        // Keep a relative prefix relative, as boost's operator/ does.
                        let trimmed = param.snapshotPrefix.hasSuffix("/") ? String(param.snapshotPrefix.dropLast()) : param.snapshotPrefix
                        p.snapshotPrefix = trimmed + "/" + stem
                    }
                }
            }
        }
        return p
    }
}
