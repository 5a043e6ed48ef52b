import Foundation
import SparkNet

/// The trainer's operational side of snapshots: every snapshot becomes a complete set (a
/// manifest written last), signals snapshot or stop at an agreed iteration, and
/// `--snapshot auto` finds where to resume.
extension DistributedTrainer {
    /// Names what the ranks are about to wait in, for a stall report.
    func phase(_ what: @autoclosure () -> String) {
        if let w = comm.watchdog { w.phase = what() }
    }

    /// Called by every rank once its files of snapshot `base` are written: after a barrier
    /// (every rank's files are on disk), rank 0 writes the manifest and applies
    /// `--keep-snapshots`.
    func sealSnapshot(base: String, iteration: Int) throws {
        phase("the snapshot of iteration \(iteration)")
        comm.barrier()
        guard comm.isRoot else { return }
        try SnapshotManifest.seal(base: base, iteration: iteration, ranks: comm.size, sync: options.sync.rawValue)
        if let keep = options.keepSnapshots {
            let gone = SnapshotManifest.prune(prefix: solver.param.snapshotPrefix, keep: keep, current: iteration)
            if !gone.isEmpty {
                solver.log?("Deleted the snapshots of iteration \(gone.map(String.init).joined(separator: ", ")) (--keep-snapshots \(keep))")
            }
        }
    }

    /// At every iteration boundary: acts on the signals the ranks agreed on. A stop writes a
    /// snapshot and throws `TrainingStopped` once every rank's files and the manifest are on
    /// disk; a snapshot request writes one (unless the periodic one is due) and goes on. At the
    /// last boundary training ends anyway, with its own snapshot.
    func actOnSignals(_ s: Solver, last: Bool) throws {
        // async-easgd's ranks step at their own pace and meet at no iteration boundary: a stop
        // reaches rank 0 on the board and ends training like max_iter (afterUpdate).
        if asyncRanksDiverge { return try stopIfSignalled(s) }
        phase("the signal check after iteration \(s.iter)")
        guard let d = stops.atBoundary(iter: s.iter, last: last, lag: roundsOnOwnClocks ? 0 : StopRequests.lag),
              !last else { return }
        let periodic = s.param.snapshot > 0 && s.iter % Int(s.param.snapshot) == 0
        if d.request.contains(.stop) {
            stops.drain()
            solver.log?("\(d.cause): snapshotting at iteration \(s.iter), then stopping")
            let state = try s.snapshot().state
            phase("the stop after iteration \(s.iter)")
            comm.barrier()   // no rank exits before rank 0 has written the manifest
            throw TrainingStopped(iteration: s.iter, state: state, cause: d.cause)
        }
        if !periodic {
            solver.log?("\(d.cause): snapshotting at iteration \(s.iter)")
            try s.snapshot()
        }
    }

    /// async-easgd on K > 1 ranks, at every step: relays this rank's signals to rank 0 (see
    /// `AsyncSchedule`). A snapshot request (SIGUSR2) is not honoured: the ranks are at
    /// different iterations with different weights until training ends, so rank 0 says so, once.
    func relayAsyncSignals(_ schedule: AsyncSchedule) {
        let snapshot = schedule.relaySignals()
        if snapshot != 0 {
            solver.log?("\(StopRequests.cause(snapshot, ranks: comm.size)): ignored, as every SIGUSR2 in this run: --sync async-easgd on several ranks snapshots only when training ends (its ranks are at different iterations until then); SIGUSR1 stops with a snapshot")
        }
    }

    /// async-easgd on K > 1 ranks, at every step: once training has ended on a stop signal
    /// (every rank has made its last exchange, taken the center and rank 0's iteration), every
    /// rank writes its part of the snapshot, rank 0 seals the set, and `TrainingStopped` unwinds.
    private func stopIfSignalled(_ s: Solver) throws {
        guard let schedule, finished, schedule.stopSignal != 0 else { return }
        let cause = StopRequests.cause(schedule.stopSignal, ranks: comm.size)
        solver.log?("\(cause): snapshotting at iteration \(s.iter), then stopping")
        let state = try s.snapshot().state
        phase("the stop after iteration \(s.iter)")
        comm.barrier()   // no rank exits before rank 0 has written the manifest
        endAsyncSchedule()
        throw TrainingStopped(iteration: s.iter, state: state, cause: cause)
    }

    /// `--snapshot auto`: rank 0 picks the newest complete set under snapshot_prefix, and every
    /// rank learns it (nil: start fresh). Logs which. Collective.
    func findAutoSnapshot() throws -> (state: String, ranks: Int)? {
        let prefix = solver.param.snapshotPrefix
        var choice = ""
        try comm.agreeOnRoot {
            guard let found = SnapshotManifest.newestComplete(prefix: prefix) else {
                let older = SnapshotManifest.sets(prefix: prefix).count
                solver.log?("--snapshot auto: no complete snapshot under \(prefix)_iter_*\(older > 0 ? " (\(older) incomplete)" : ""); starting fresh")
                return
            }
            for why in found.skipped { solver.log?("--snapshot auto: skipping the snapshot of \(why)") }
            let state = found.found.directory + "/" + found.manifest.state
            solver.log?("--snapshot auto: resuming from \(state), the newest complete snapshot (iteration \(found.manifest.iteration), \(found.manifest.ranks) rank\(found.manifest.ranks == 1 ? "" : "s"), --sync \(found.manifest.sync))")
            choice = "\(found.manifest.ranks)\t\(state)"
        }
        let shared = String(decoding: comm.bcast(Array(choice.utf8), root: 0), as: UTF8.self)
        guard let tab = shared.firstIndex(of: "\t"), let ranks = Int(shared[..<tab]) else { return nil }
        return (String(shared[shared.index(after: tab)...]), ranks)
    }

    /// `--reshard`: restores rank 0's state on every rank (weights, solver history, iteration)
    /// and rewinds every data source, so the data order restarts under the new sharding.
    /// Returns the saved EASGD center on rank 0. Not collective.
    func restoreResharded(from statePath: String) throws -> [Float]? {
        try solver.restore(from: statePath)
        for net in [solver.net] + solver.testNets {
            for case let layer as DataLayer in net.layers { layer.source?.position = 0 }
        }
        return comm.isRoot && synchronizer.hasCenter ? try readCenter(forState: statePath) : nil
    }
}
