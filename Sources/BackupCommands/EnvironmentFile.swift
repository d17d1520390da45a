import BackupKit
import Foundation

/// The `EnvironmentFile=` of a service whose plan is built from environment variables: the variables
/// the plan reads, as they are set now. It holds secrets (PGPASSWORD, S3 keys), so it is mode 0600
/// (systemd reads it as root before dropping privileges), an existing one is kept as it is, and
/// `--print` masks their values.
struct EnvironmentFile {
    let path: String
    let variables: [(name: String, value: String)]

    init(path: String, environment: [String: String]) {
        self.path = path
        variables = environment.filter { EnvironmentFile.isPlanVariable($0.key) && !$0.value.contains("\n") }
            .sorted { $0.key < $1.key }.map { (name: $0.key, value: $0.value) }
    }

    /// The variables an environment plan and its components read. Not BACKUP_CONFIG (there is no plan
    /// file) and not the identity or its passphrase: a backup never needs them, so they stay off the host.
    static func isPlanVariable(_ name: String) -> Bool {
        guard ["BACKUP_", "PG", "DATABASE_URL", "AWS_"].contains(where: name.hasPrefix) else { return false }
        return !["BACKUP_CONFIG", "BACKUP_ENCRYPTION_IDENTITY_FILE", "BACKUP_ENCRYPTION_PASSPHRASE", "BACKUP_HOOK"].contains(name)
    }

    static func isSecret(_ name: String) -> Bool {
        ["PASSWORD", "SECRET", "TOKEN", "PASSPHRASE"].contains { name.contains($0) } && !name.hasSuffix("_FILE")
    }

    func contents(masked: Bool) -> String {
        var text = "# Written by `backupctl install systemd`: the variables the plan is built from. Mode 0600: it holds secrets.\n"
        for (name, value) in variables {
            let shown = masked ? (EnvironmentFile.isSecret(name) ? "***" : Redaction.redactURLCredentials(value)) : value
            text += "\(name)=\(EnvironmentFile.quote(shown))\n"
        }
        return text
    }

    /// systemd's EnvironmentFile= quoting: double quotes, with `\` and `"` escaped.
    static func quote(_ value: String) -> String {
        "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    func emit(options: InstallCommand.InstallOptions) throws {
        if options.print {
            Terminal.out("# \(path) (secrets masked here)")
            Terminal.out(contents(masked: true))
            return
        }
        let target = (options.prefix.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? "") + path
        if FileManager.default.fileExists(atPath: target) {
            Terminal.out("kept \(target) (it exists; the service reads it as it is)")
            return
        }
        try makeDirectory((target as NSString).deletingLastPathComponent, mode: nil, purpose: "the directory")
        try AtomicFileWriter.write(Array(contents(masked: false).utf8), to: target, mode: 0o600)
        Terminal.out("wrote \(target)")
    }
}
