import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes files so that a reader sees either the old content or the new, never a partial file:
/// a temporary file in the same directory, fsync, then rename over the target.
public enum AtomicFile {
    /// Writes `data` to `path` atomically. Errors name the path.
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let base = url.lastPathComponent
        var template = Array("\(dir)/.\(base).tmp.XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw SparkNetError("\(path): cannot create a temporary file in '\(dir)': \(errnoText())")
        }
        let tempPath = String(cBuffer: template)
        var ok = false
        defer { if !ok { unlink(tempPath) } }
        do {
            try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                var offset = 0
                while offset < raw.count {
                    let n = systemWrite(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw SparkNetError("\(path): write failed: \(errnoText())")
                    }
                    offset += n
                }
            }
            guard fsync(fd) == 0 else { throw SparkNetError("\(path): fsync failed: \(errnoText())") }
            // mkstemp creates 0600; give the file the usual permissions (umask applies).
            let mask = umask(0); umask(mask)
            fchmod(fd, 0o666 & ~mask)
        } catch {
            close(fd)
            throw error
        }
        guard close(fd) == 0 else { throw SparkNetError("\(path): close failed: \(errnoText())") }
        guard rename(tempPath, path) == 0 else {
            throw SparkNetError("\(path): cannot rename the temporary file into place: \(errnoText())")
        }
        ok = true
        syncDirectory(dir)
    }

    /// A temporary name beside `path` (`dir/.name.tmp.PID`) for a writer that `publish`es it.
    public static func temporaryName(for path: String) -> String {
        let dir = (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent
        return "\(dir.isEmpty ? "" : dir + "/").\(base).tmp.\(getpid())"
    }

    /// Moves a finished temporary file (or directory) that another writer made (HDF5, LMDB) into
    /// place: fsync, rename over `path`, fsync the directory. Errors name both paths.
    public static func publish(_ tempPath: String, as path: String) throws {
        let fd = open(tempPath, O_RDONLY)
        guard fd >= 0 else { throw SparkNetError("cannot write '\(path)': \(errnoText())") }
        fsync(fd)
        close(fd)
        guard rename(tempPath, path) == 0 else {
            throw SparkNetError("cannot rename '\(tempPath)' to '\(path)': \(errnoText())")
        }
        syncDirectory((path as NSString).deletingLastPathComponent)
    }

    /// Makes a rename in `dir` durable.
    private static func syncDirectory(_ dir: String) {
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    private static func systemWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
        #if canImport(Glibc)
        return Glibc.write(fd, p, n)
        #else
        return Darwin.write(fd, p, n)
        #endif
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}
