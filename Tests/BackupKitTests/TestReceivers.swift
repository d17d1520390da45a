import BackupKit
import Foundation

/// The HTTP receiver that records every request as a JSON file.
struct TestHTTPReceiver {
    let url: String
    let requestDirectory: String

    static func load() throws -> TestHTTPReceiver {
        let servers = try TestServers.load()
        return TestHTTPReceiver(url: try servers.value("BACKUPKIT_HTTP_URL"), requestDirectory: try servers.value("BACKUPKIT_HTTP_REQUEST_DIR"))
    }

    struct Request {
        var method: String
        var path: String
        var headers: [String: String]
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// A path no other test uses, so each test reads only its own requests.
    static func uniquePath(_ label: String) -> String { "/hook/\(label)-\(UUID().uuidString.prefix(8).lowercased())" }

    /// The requests whose path starts with `prefix`, oldest first.
    func requests(pathPrefix prefix: String) -> [Request] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: requestDirectory)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
        return names.compactMap { name -> Request? in
            guard let data = FileManager.default.contents(atPath: requestDirectory + "/" + name),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let path = object["path"] as? String, path.hasPrefix(prefix) else { return nil }
            var headers: [String: String] = [:]
            if let list = object["headers"] as? [[Any]] {
                for pair in list where pair.count == 2 { headers[(pair[0] as? String ?? "").lowercased()] = pair[1] as? String }
            } else if let map = object["headers"] as? [String: String] {
                for (key, value) in map { headers[key.lowercased()] = value }
            }
            let body = (object["body_base64"] as? String).flatMap { Data(base64Encoded: $0) }.map(Array.init) ?? []
            return Request(method: object["method"] as? String ?? "", path: path, headers: headers, body: body)
        }
    }

    /// Every body the receiver ever recorded, for the secrets check.
    func allBodies() -> [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: requestDirectory)) ?? []).filter { $0.hasSuffix(".json") }
        return names.compactMap { FileManager.default.contents(atPath: requestDirectory + "/" + $0).map { String(decoding: $0, as: UTF8.self) } }
    }
}

/// aiosmtpd with STARTTLS (and implicit TLS) and AUTH, saving every message as a file.
struct TestSMTPServer {
    let host: String
    let port: Int
    let implicitPort: Int
    let user: String
    let password: String
    let caFile: String
    let mailDirectory: String

    static func load() throws -> TestSMTPServer {
        let servers = try TestServers.load()
        return TestSMTPServer(host: try servers.value("BACKUPKIT_SMTP_HOST"), port: Int(try servers.value("BACKUPKIT_SMTP_PORT"))!,
                              implicitPort: Int(try servers.value("BACKUPKIT_SMTPS_PORT"))!, user: try servers.value("BACKUPKIT_SMTP_USER"),
                              password: try servers.value("BACKUPKIT_SMTP_PASSWORD"), caFile: try servers.value("BACKUPKIT_SMTP_CA_FILE"),
                              mailDirectory: try servers.value("BACKUPKIT_SMTP_MAIL_DIR"))
    }

    /// A recipient address no other test uses.
    static func uniqueRecipient(_ label: String) -> String { "\(label)-\(UUID().uuidString.prefix(8).lowercased())@example.com" }

    struct Message {
        var raw: String
        var recipients: [String]
        var authUser: String?
        var tls: Bool
        /// The header section, names lower-cased.
        var headers: [String: String] {
            var result: [String: String] = [:]
            for line in raw.components(separatedBy: "\r\n\r\n").first?.components(separatedBy: "\r\n") ?? [] {
                guard let colon = line.firstIndex(of: ":") else { continue }
                result[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            return result
        }
        var body: String { raw.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n") }
    }

    /// The messages sent to `recipient`, oldest first.
    func messages(to recipient: String) -> [Message] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: mailDirectory)) ?? []).filter { $0.hasSuffix(".eml") }.sorted()
        return names.compactMap { name -> Message? in
            let base = mailDirectory + "/" + name.dropLast(4)
            guard let sidecar = FileManager.default.contents(atPath: base + ".json"),
                  let envelope = try? JSONSerialization.jsonObject(with: sidecar) as? [String: Any],
                  let recipients = envelope["rcpt_tos"] as? [String], recipients.contains(recipient),
                  let raw = FileManager.default.contents(atPath: base + ".eml") else { return nil }
            return Message(raw: String(decoding: raw, as: UTF8.self), recipients: recipients, authUser: envelope["auth_user"] as? String,
                           tls: envelope["tls"] as? Bool ?? false)
        }
    }

    func allMessages() -> [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: mailDirectory)) ?? []).filter { $0.hasSuffix(".eml") }
        return names.compactMap { FileManager.default.contents(atPath: mailDirectory + "/" + $0).map { String(decoding: $0, as: UTF8.self) } }
    }
}
