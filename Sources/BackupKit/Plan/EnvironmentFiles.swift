import Foundation

/// Secrets from files: any variable the plan reads can be given as `NAME_FILE`, the path of a file that
/// holds its value (Docker and Kubernetes secrets, systemd credentials), when `NAME` itself is not set.
/// This holds for every `BACKUP_*` variable, `DATABASE_URL`, the `PG*`, `AWS_*`, `MINIO_*`, `S3_*` and
/// `SMTP_*` variables, and every `${NAME}` a plan file uses. One trailing newline is dropped.
enum EnvironmentFiles {
    static let prefixes = ["BACKUP_", "DATABASE_URL", "PG", "AWS_", "MINIO_", "S3_", "SMTP_"]

    /// `environment` with each `NAME` that only `NAME_FILE` gives read from its file. `referenced` adds
    /// names beyond the prefixes (those a plan file interpolates).
    static func resolved(_ environment: [String: String], referenced: Set<String> = []) throws -> [String: String] {
        var result = environment
        for (key, path) in environment where key.hasSuffix("_FILE") && key.count > 5 {
            let name = String(key.dropLast(5))
            guard environment[name]?.isEmpty ?? true, prefixes.contains(where: name.hasPrefix) || referenced.contains(name) else { continue }
            // Variables the components read as file paths themselves keep their own meaning.
            guard !Self.pathVariables.contains(key) else { continue }
            guard !path.isEmpty else { continue }
            guard let data = FileManager.default.contents(atPath: path), data.count <= 1 << 20 else {
                let reason = FileManager.default.fileExists(atPath: path) ? "it cannot be read by this user, or is over 1 MiB" : "there is no such file"
                throw BackupError(.missingCredentials, "\(key)=\(path): \(reason). Point \(key) at the file that holds \(name), or set \(name) itself.")
            }
            var value = String(decoding: data, as: UTF8.self)
            if value.hasSuffix("\r\n") { value.removeLast(2) } else if value.hasSuffix("\n") { value.removeLast() }
            result[name] = value
        }
        return result
    }

    /// `*_FILE` variables that are file paths in their own right, read by the component that knows them.
    static let pathVariables: Set<String> = ["BACKUP_SMTP_PASSWORD_FILE", "BACKUP_ENCRYPTION_IDENTITY_FILE", "BACKUP_CONFIG_FILE",
                                             "BACKUP_PG_PASSWORD_FILE", "BACKUP_SMTP_CA_FILE", "AWS_SHARED_CREDENTIALS_FILE"]

    /// The names a plan file's text interpolates (`${NAME}`, `${NAME:-default}`).
    static func referencedNames(in text: String) -> Set<String> {
        Set(text.matches(of: /\$\{([A-Za-z_][A-Za-z0-9_]*)/).map { String($0.1) })
    }
}
