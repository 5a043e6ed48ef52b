import Foundation
import SparkNet
import SparkNetMPI

/// Caffe-format log lines on stdout, from rank 0 only. Each line carries glog's prefix
/// (`I0210 13:39:22.381027 25210 sparknet-mpi] …`) so Caffe's tools/extra/parse_log.py, which
/// reads the date from it, works on our logs unchanged.
enum Log {
    /// Whether this process logs (rank 0).
    static var enabled: Bool { MPIEnvironment.isRoot }

    /// Logs `message` with the glog prefix.
    static func info(_ message: String) {
        guard enabled else { return }
        let line = prefix() + message + "\n"
        FileHandle.standardOutput.write(Data(line.utf8))
    }

    /// Prints `message` as is (tables, summaries), rank 0 only.
    static func plain(_ message: String) {
        guard enabled else { return }
        FileHandle.standardOutput.write(Data((message + "\n").utf8))
    }

    private static func prefix() -> String {
        var tv = timeval()
        gettimeofday(&tv, nil)
        var t = time_t(tv.tv_sec)
        var tm = tm()
        localtime_r(&t, &tm)
        return String(format: "I%02d%02d %02d:%02d:%02d.%06d %d sparknet-mpi] ",
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                      Int32(tv.tv_usec), getpid())
    }
}

/// The one place errors leave the program: one line on stderr, then exit code 1.
enum ErrorReport {
    /// Prints `error` once as `sparknet-mpi: error: <message>` and ends the process (with
    /// MPI_Abort when other ranks are running, so none of them hangs).
    static func fail(_ error: Error) -> Never {
        // Agreed at a start-up checkpoint: every rank exits, one of them prints, no MPI_Abort.
        if let e = error as? CollectiveError {
            if let m = e.message { FileHandle.standardError.write(Data("sparknet-mpi: error: \(m)\n".utf8)) }
            exit(1)
        }
        let message = (error as? SparkNetError)?.message ?? "\(error)"
        let who = MPIEnvironment.size > 1 ? "rank \(MPIEnvironment.rank): " : ""
        FileHandle.standardError.write(Data("sparknet-mpi: error: \(who)\(message)\n".utf8))
        if MPIEnvironment.size > 1 { MPIEnvironment.abort(code: 1) }
        exit(1)
    }

    /// A command-line error, found before MPI starts: `message` is ArgumentParser's text and
    /// `code` its exit code (64 for usage errors, 0 for help). Under a launcher every rank
    /// parses the same arguments, so the ranks agree as at a start-up checkpoint: one of them
    /// prints, every rank exits with `code` (a rank whose arguments were fine exits 1). Help is
    /// printed by the launcher's rank 0 alone.
    static func usage(message: String, code: Int32) -> Never {
        let stream = code == 0 ? FileHandle.standardOutput : FileHandle.standardError
        guard let rank = MPIEnvironment.launcherRank, code != 0 else {
            if !message.isEmpty && (MPIEnvironment.launcherRank ?? 0) == 0 { stream.write(Data((message + "\n").utf8)) }
            exit(code)
        }
        MPIEnvironment.initialize()
        do {
            try Communicator.world.agree { throw SparkNetError(message) }
        } catch let e as CollectiveError {
            if let m = e.message { stream.write(Data((m + "\n").utf8)) }
            exit(code)
        } catch {
            // The other ranks reached no checkpoint (they run a verb without collectives).
            stream.write(Data(("rank \(rank): " + message + "\n").utf8))
            MPIEnvironment.abort(code: code)
        }
        exit(code)
    }
}
