import BackupKit
import BackupKitTesting
import BackupNotifiers
import BackupSinks
import BackupSources
import Foundation
import Glibc
import Logging
import Testing

/// A directory under /tmp that each test makes for itself.
struct TemporaryDirectory {
    let path: String

    init(_ label: String = "test") throws {
        // A pipe or socket closed under one test must be that test's EPIPE, never a SIGPIPE that ends the
        // whole test process (backupctl ignores SIGPIPE before its first child or transfer; tests that
        // write to a child's pipe before any of those ran would otherwise die of it).
        ignoreBrokenPipes()
        let base = ProcessInfo.processInfo.environment["BACKUPKIT_TEST_TMP"] ?? NSTemporaryDirectory()
        var template = Array("\(base.hasSuffix("/") ? base : base + "/")backupkit-\(label)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw BackupError(.io, "mkdtemp failed") }
        path = String(cString: made)
    }

    func sub(_ name: String) -> String { path + "/" + name }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Writes a file, creating parent directories.
func writeFile(_ path: String, _ contents: String, mode: Int = 0o644) throws {
    try writeFile(path, Array(contents.utf8), mode: mode)
}

func writeFile(_ path: String, _ bytes: [UInt8], mode: Int = 0o644) throws {
    let directory = (path as NSString).deletingLastPathComponent
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { throw BackupError(.io, "cannot write \(path)") }
    chmod(path, mode_t(mode))
}

func readFile(_ path: String) -> [UInt8]? {
    FileManager.default.contents(atPath: path).map(Array.init)
}

/// Writes `count` files of `size` random bytes (incompressible, so archiving them takes time) as
/// `directory/part-N.bin`.
func writeRandomFiles(in directory: String, count: Int, size: Int) throws {
    guard let random = FileHandle(forReadingAtPath: "/dev/urandom") else { throw BackupError(.io, "cannot open /dev/urandom") }
    for index in 0..<count { try writeFile(directory + "/part-\(index).bin", Array(random.readData(ofLength: size))) }
}

/// Deterministic pseudo-random bytes.
func pseudoRandomBytes(_ count: Int, seed: UInt64 = 42) -> [UInt8] {
    var state = seed &+ 0x9E37_79B9_7F4A_7C15
    var bytes = [UInt8](repeating: 0, count: count)
    for index in 0..<count {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        bytes[index] = UInt8(truncatingIfNeeded: state >> 33)
    }
    return bytes
}

/// The registry backupctl uses.
func standardRegistry() -> PlanRegistry {
    var registry = PlanRegistry()
    registry.registerStandardSources()
    registry.registerStandardSinks()
    registry.registerStandardNotifiers()
    return registry
}

let testLogger: Logger = {
    var logger = Logger(label: "backupkit-tests") { _ in SwiftLogNoOpLogHandler() }
    logger.logLevel = .critical
    return logger
}()

/// The result of running a process.
struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// The `backupctl` built beside the test bundle.
let backupctlPath: String = {
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    var candidate = bundle.appendingPathComponent("backupctl").path
    if !FileManager.default.fileExists(atPath: candidate) {
        // Swift Testing may run from a helper; fall back to the package's debug build.
        candidate = FileManager.default.currentDirectoryPath + "/.build/debug/backupctl"
    }
    return candidate
}()

/// Runs a program to completion and captures its output. With `killAfter`, a program still running
/// after that many seconds is killed (SIGKILL), so a test of something that might hang fails instead.
@discardableResult
func runProcess(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
                killAfter: Double? = nil) throws -> ProcessResult {
    ignoreBrokenPipes()
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    if let killAfter {
        let pid = process.processIdentifier
        DispatchQueue.global().asyncAfter(deadline: .now() + killAfter) { if process.isRunning { kill(pid, SIGKILL) } }
    }
    // Read both pipes to the end before waiting, so a chatty child never blocks on a full pipe.
    let group = DispatchGroup()
    nonisolated(unsafe) var outData = Data(), errData = Data()
    DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
    DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
    group.wait()
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
}

/// Runs backupctl with a clean environment (no BACKUP_* from the caller) plus `environment`.
@discardableResult
func backupctl(_ arguments: [String], in directory: String, environment: [String: String] = [:]) throws -> ProcessResult {
    var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BACKUP_") }
    env.merge(environment) { _, new in new }
    return try runProcess(backupctlPath, arguments, environment: env, directory: directory)
}

/// Every file name under a directory, recursively, relative to it.
func listTree(_ root: String) -> [String] {
    (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).sorted()
}

/// Runs `body` and records what it throws as an issue. In an exit test the child's issues reach the
/// parent with their text, while an error thrown out of the body only ends the child with a signal.
func recordingErrors(sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void) async {
    do { try await body() } catch { Issue.record("\(error)", sourceLocation: sourceLocation) }
}

/// Records an issue unless `body` throws the ``ConformanceFailure`` of `check`: a suite that rejects a
/// broken sink or notifier for the wrong reason does not prove the check works.
func expectConformanceFailure(_ check: ConformanceCheck, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("the suite passed; its '\(check)' check should have failed", sourceLocation: sourceLocation)
    } catch let failure as ConformanceFailure {
        if failure.check != check { Issue.record("the '\(check)' check should have failed, but: \(failure)", sourceLocation: sourceLocation) }
    } catch {
        Issue.record("the '\(check)' check should have failed, but the suite threw: \(error)", sourceLocation: sourceLocation)
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` seconds have passed; returns whether it held.
@discardableResult
func waitUntil(timeout: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while try !condition() {
        guard Date() < deadline else { return false }
        usleep(20_000)
    }
    return true
}

/// Writes `manifest` to `directory/<its key>`, signed with the signing key the plan keeps in `directory`
/// (made there if missing), as the plan's own host would: for tests whose hostile content comes from
/// someone who holds the key, so that the checks behind the signature are what is tested.
func writeSignedManifest(_ manifest: Manifest, in directory: String, plan: String = "app") throws {
    let (key, _) = try ManifestSigningKey.loadOrCreate(at: directory + "/.backupctl-\(plan).signing-key")
    try writeFile(directory + "/" + manifest.key, try manifest.signed(with: key).encoded(), mode: 0o600)
}

/// A random number generator that gives the same sequence for the same seed (SplitMix64), so a test
/// that picks random moments picks the same ones on every run.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}
