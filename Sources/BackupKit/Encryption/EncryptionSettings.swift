import Foundation

/// An `encryption:` section: the age recipients a sink's artifacts and manifests are encrypted to.
///
/// At plan level it applies to every sink; a sink may name its own recipients, or say
/// `encryption: none` to stay plaintext (the usual local sink: fast restores, `gunzip -t` as it is).
///
/// ```yaml
/// encryption:
///   recipients:
///     - age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p   # the team's key
///   recipients_file: /etc/backupctl/recovery.recipients                   # one per line, # comments
/// sinks:
///   - { name: local, type: local, path: /var/backups, encryption: none }
///   - { name: offsite, type: s3, bucket: backups, ... }                   # encrypted
/// ```
///
/// `BACKUP_ENCRYPTION_RECIPIENTS` (recipients separated by commas or spaces) adds to the plan-level
/// list, and turns plan-level encryption on when the plan has none. A section that ends up with no
/// recipient is an error, never a plaintext copy.
public struct EncryptionSettings: Sendable, Hashable {
    /// The recipients, from the plan, the recipients file and the environment, in that order.
    public var recipients: [AgeRecipient]
    /// Where they came from, for messages (`recipients`, a file's path, the variable's name).
    public var origins: [String]

    public init(recipients: [AgeRecipient], origins: [String] = []) {
        self.recipients = recipients
        self.origins = origins
    }

    /// The variable that adds plan-level recipients.
    public static let recipientsVariable = "BACKUP_ENCRYPTION_RECIPIENTS"

    /// Parses recipient lines as `age -R` does: one recipient per line, blank lines and `#` comments
    /// ignored. `origin` names the file in errors.
    public static func parseRecipients(_ text: String, origin: String) throws -> [AgeRecipient] {
        var recipients: [AgeRecipient] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { continue }
            do {
                recipients.append(try AgeRecipient(parsing: trimmed))
            } catch let error as BackupError {
                throw BackupError(.invalidPlan, "\(origin) line \(number + 1): \(error.message)")
            }
        }
        return recipients
    }

    /// Reads a recipients file.
    public static func readRecipientsFile(_ path: String) throws -> [AgeRecipient] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw BackupError(.invalidPlan, "cannot read the recipients file \(path): \(String(cString: strerror(errno))). Create it with one age1… recipient per line (`backupctl key generate` prints one)")
        }
        return try parseRecipients(text, origin: "recipients file \(path)")
    }

    /// The recipients in `BACKUP_ENCRYPTION_RECIPIENTS`, or nil when it is unset or empty.
    static func environmentRecipients(_ environment: [String: String]) throws -> [AgeRecipient]? {
        guard let value = environment[recipientsVariable], !value.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        let items = value.split { $0 == "," || $0 == " " || $0 == "\n" }.map(String.init)
        return try items.map { item in
            do { return try AgeRecipient(parsing: item) } catch let error as BackupError {
                throw BackupError(.invalidPlan, "\(recipientsVariable): \(error.message)")
            }
        }
    }
}

/// What a sink's own `encryption:` says.
public enum SinkEncryptionChoice: Sendable, Hashable {
    /// `encryption: none`: plaintext, whatever the plan level says.
    case none
    /// The sink's own recipients, in place of the plan level's.
    case recipients(EncryptionSettings)
}

/// The keys of an `encryption:` mapping.
enum EncryptionKeys: String, CodingKey, CaseIterable {
    case recipients
    case recipientsFile = "recipients_file"
}

extension EncryptionSettings: Decodable {
    public init(from decoder: any Decoder) throws {
        let context = try PlanDecodingContext.from(decoder)
        let container = try decoder.strictContainer(keyedBy: EncryptionKeys.self)
        var recipients: [AgeRecipient] = []
        var origins: [String] = []
        if let listed = try container.decodeIfPresent([String].self, forKey: .recipients) {
            for text in listed {
                do { recipients.append(try AgeRecipient(parsing: text)) } catch let error as BackupError {
                    throw invalidValue(.recipients, in: container, error.message)
                }
            }
            origins.append("recipients")
        }
        if let file = try container.decodeIfPresent(String.self, forKey: .recipientsFile) {
            let path = resolvePath(file, against: context.baseDirectory)
            do { recipients += try Self.readRecipientsFile(path) } catch let error as BackupError {
                throw invalidValue(.recipientsFile, in: container, error.message)
            }
            origins.append(path)
        }
        self.init(recipients: recipients, origins: origins)
    }
}

extension SinkEncryptionChoice: Decodable {
    public init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer(), let word = try? single.decode(String.self) {
            guard word == "none" else {
                throw DecodingError.dataCorruptedError(in: single, debugDescription: "encryption: '\(word)' is not a setting: write 'none' for a plaintext sink, or a mapping with recipients / recipients_file")
            }
            self = .none
            return
        }
        if let single = try? decoder.singleValueContainer(), let flag = try? single.decode(Bool.self) {
            guard !flag else {
                throw DecodingError.dataCorruptedError(in: single, debugDescription: "encryption: true names no recipients: give recipients / recipients_file, or leave the key out to use the plan-level encryption")
            }
            self = .none
            return
        }
        self = .recipients(try EncryptionSettings(from: decoder))
    }
}

extension BackupPlan {
    /// The recipients `sink` encrypts to, or nil when it stores plaintext. A sink that should encrypt
    /// but has no recipient is an error: a plaintext copy is never made in its place.
    public func recipients(for sink: any Sink) throws -> [AgeRecipient]? {
        let settings: EncryptionSettings
        switch sinkEncryption[sink.name] {
        case .none?: return nil
        case .recipients(let own)?: settings = own
        case nil:
            guard let planLevel = encryption else { return nil }
            settings = planLevel
        }
        guard !settings.recipients.isEmpty else {
            throw BackupError(.invalidPlan, "\(origin): sink '\(sink.name)' is to be encrypted, but its encryption section names no recipient (checked: \(settings.origins.isEmpty ? "nothing" : settings.origins.joined(separator: ", "))). Add recipients, a recipients_file, or \(EncryptionSettings.recipientsVariable); nothing is stored in plaintext instead")
        }
        return settings.recipients
    }
}
