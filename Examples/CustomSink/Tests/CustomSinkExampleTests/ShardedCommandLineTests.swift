import Foundation
import Testing

/// `backupctl-sharded`, the example's own executable (`Backupctl.main(registry:)` with one more sink),
/// run as a user runs it: the whole command line works with a plan that names the custom sink.
@Suite struct ShardedCommandLineTests {
    /// The executable SwiftPM builds beside this test bundle.
    static let executable: String = {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("backupctl-sharded").path
        return FileManager.default.fileExists(atPath: beside) ? beside : FileManager.default.currentDirectoryPath + "/.build/debug/backupctl-sharded"
    }()

    /// Runs the executable in `directory`; returns its exit status and its standard output and error.
    static func run(_ arguments: [String], in directory: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BACKUP_") }
        let log = directory + "/command-\(UUID().uuidString).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        try handle.close()
        defer { try? FileManager.default.removeItem(atPath: log) }
        return (process.terminationStatus, try String(contentsOfFile: log, encoding: .utf8))
    }

    @Test func runListVerifyAndRestoreWithThePlansOwnSinkType() throws {
        let root = NSTemporaryDirectory() + "sharded-cli-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/data/sub", withIntermediateDirectories: true)
        let payload = (0..<50_000).map { "line \($0) of the report\n" }.joined()
        try payload.write(toFile: root + "/data/sub/report.txt", atomically: true, encoding: .utf8)
        try """
        name: nas-demo
        sources:
          - { name: files, type: directory, path: ./data, subject: reports }
        sinks:
          - { name: nas, type: sharded-directory, root: ./nas }
        """.write(toFile: root + "/backup.yml", atomically: true, encoding: .utf8)

        let backup = try Self.run(["run", "--json"], in: root)
        #expect(backup.status == 0, "\(backup.output)")
        #expect(backup.output.contains("\"succeeded\""), "\(backup.output)")
        // The set went through the custom sink: into a month directory, not a flat one.
        let shards = try FileManager.default.contentsOfDirectory(atPath: root + "/nas")
        #expect(shards.count == 1 && shards[0].wholeMatch(of: /\d{4}-\d{2}/) != nil, "\(shards)")
        let stored = try FileManager.default.contentsOfDirectory(atPath: root + "/nas/" + shards[0])
        #expect(stored.contains { $0.hasPrefix("files_reports_") && $0.hasSuffix(".tar.gz") }, "\(stored)")
        #expect(stored.contains { $0.hasPrefix("manifest_nas-demo_") }, "\(stored)")

        let list = try Self.run(["list", "--json"], in: root)
        #expect(list.status == 0 && list.output.contains("files_reports_"), "\(list.output)")
        let verify = try Self.run(["verify", "--latest"], in: root)
        #expect(verify.status == 0, "\(verify.output)")
        let restore = try Self.run(["restore", "--latest", "--only", "files", "--to", "restored"], in: root)
        #expect(restore.status == 0, "\(restore.output)")
        #expect(try String(contentsOfFile: root + "/restored/sub/report.txt", encoding: .utf8) == payload)

        // A damaged artifact in the custom sink is caught by the same verification as everywhere.
        let artifact = root + "/nas/\(shards[0])/" + stored.first { $0.hasSuffix(".tar.gz") }!
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: artifact))
        try handle.seek(toOffset: 100)
        try handle.write(contentsOf: Data([0xFF, 0x00, 0xFF]))
        try handle.close()
        #expect(try Self.run(["verify", "--latest"], in: root).status == 3)
    }
}
