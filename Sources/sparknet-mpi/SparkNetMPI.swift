import ArgumentParser
import Foundation
import SparkNet
import SparkNetMPI

/// One of the command-line verbs (train, test, time, convert-idx, convert-imageset, compute-image-mean, inspect).
protocol Verb: ParsableCommand {}

/// `sparknet-mpi`: Caffe's command-line verbs, on MPI. Run it alone (an MPI singleton) or under
/// `mpirun -np K`.
@main
struct SparkNetCLI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sparknet-mpi",
        abstract: "Train and run Caffe-defined networks, on one rank or many (mpirun).",
        discussion: """
            Reads Caffe prototxt nets and solvers unchanged and writes .caffemodel/.solverstate
            files that Caffe loads. Rank 0 logs Caffe-format lines to stdout; errors go to stderr
            as one line, "sparknet-mpi: error: <message>", with exit code 1.
            """,
        subcommands: [Train.self, Test.self, Time.self, ConvertIDX.self, ConvertImageset.self, ComputeImageMean.self,
                      Inspect.self, BenchExchange.self, BenchInput.self, Plan.self])

    /// Parses the arguments (usage errors and --help are handled by ArgumentParser), then runs
    /// the command with MPI initialised, turning any error into one line on stderr and exit 1.
    static func main() {
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            ErrorReport.usage(message: fullMessage(for: error), code: exitCode(for: error).rawValue)
        }
        // `--help`, `help VERB` and a bare `sparknet-mpi` parse to ArgumentParser's own commands,
        // whose run() reports the help request as an error only ArgumentParser can print (the
        // usage text, exit 0).
        guard command is Verb else {
            do { try command.run() } catch {
                ErrorReport.usage(message: fullMessage(for: error), code: exitCode(for: error).rawValue)
            }
            exit()
        }
        if let path = ProcessInfo.processInfo.environment["SPARKNET_CPU"],
           !["", "auto", "avx512", "avx2", "portable"].contains(path) {
            ErrorReport.usage(message: "Error: SPARKNET_CPU='\(path)' names no kernel path; use avx512, avx2, portable or auto", code: 64)
        }
        if let value = ProcessInfo.processInfo.environment["SPARKNET_WINOGRAD"], !["", "0", "1"].contains(value) {
            ErrorReport.usage(message: "Error: SPARKNET_WINOGRAD='\(value)' is neither 0 (direct kernels only) nor 1 (Winograd where it applies, the default)", code: 64)
        }
        MPIEnvironment.initialize()
        do {
            try command.run()
        } catch let e as ExitCode {
            exit(withError: e)
        } catch {
            ErrorReport.fail(error)
        }
    }
}
