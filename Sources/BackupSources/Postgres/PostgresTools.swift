import BackupKit
import Foundation

/// Finds `pg_dump`, `pg_dumpall`, `psql` and `pg_restore`, and checks that they are not older than the
/// server: Debian keeps each major version in `/usr/lib/postgresql/<major>/bin`, and the one matching the
/// server is preferred, then the newest installed, then `PATH`.
struct PostgresTools: Sendable {
    var binDirectory: String?

    func path(_ tool: String, serverMajor: Int?) -> String {
        if let binDirectory { return binDirectory + "/" + tool }
        let root = "/usr/lib/postgresql"
        if let serverMajor, FileManager.default.isExecutableFile(atPath: "\(root)/\(serverMajor)/bin/\(tool)") {
            return "\(root)/\(serverMajor)/bin/\(tool)"
        }
        let installed = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted(by: >)
        for major in installed where FileManager.default.isExecutableFile(atPath: "\(root)/\(major)/bin/\(tool)") {
            return "\(root)/\(major)/bin/\(tool)"
        }
        return tool
    }

    /// The tool's version, from `--version` (such as "15.20"), and its major number.
    func version(of path: String) throws -> (text: String, major: Int) {
        let child = try ChildProcess(executable: path, arguments: ["--version"], environment: ProcessInfo.processInfo.environment)
        var output: [UInt8] = []
        try child.forEachChunk(bufferSize: 4096) { output += $0 }
        try child.wait(timeout: 30)
        let text = String(decoding: output, as: UTF8.self)
        // "pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"
        guard let token = text.split(separator: " ").first(where: { $0.first?.isNumber == true }),
              let major = Int(token.prefix { $0.isNumber }) else {
            throw BackupError(.versionMismatch, "cannot read the version of \(path) from '\(text.trimmingCharacters(in: .whitespacesAndNewlines))'")
        }
        return (String(token), major)
    }

    /// Refuses a tool older than the server, naming both versions.
    func checkNotOlder(_ tool: String, serverVersion: Int, source: String) throws -> (path: String, version: String) {
        let serverMajor = serverVersion / 10000
        let path = path(tool, serverMajor: serverMajor)
        let (text, major) = try version(of: path)
        if major < serverMajor {
            throw BackupError(.versionMismatch, "postgres source '\(source)': \(tool) \(text) (\(path)) is older than the server (\(Self.describe(serverVersion))) and cannot dump it. Install the PostgreSQL \(serverMajor) client (postgresql-client-\(serverMajor)) or point bin_dir at it.")
        }
        return (path, text)
    }

    static func describe(_ serverVersion: Int) -> String { "\(serverVersion / 10000).\(serverVersion % 10000)" }
}
