@testable import BackupKit
import Crypto
import Foundation
import Testing

/// The public age test vectors (C2SP CCTV, copied into Tests/Vectors/age): every vector for a feature we
/// offer must give the expected result, the same error class and the same hash of the released payload.
/// Armored files and hybrid post-quantum recipients are not offered; their vectors are counted as skipped.
@Suite struct AgeVectorTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Vectors/age").standardized.path

    struct Vector {
        var name: String
        var fields: [(String, String)]
        var body: [UInt8]

        func values(_ key: String) -> [String] { fields.filter { $0.0 == key }.map(\.1) }
        func value(_ key: String) -> String? { values(key).first }
    }

    static func load(_ name: String) throws -> Vector {
        let bytes = try #require(readFile(directory + "/" + name))
        let separator = try #require(bytes.indices.first { bytes[$0] == 0x0A && $0 + 1 < bytes.count && bytes[$0 + 1] == 0x0A })
        let text = String(decoding: bytes[..<separator], as: UTF8.self)
        let fields = text.split(separator: "\n").compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var body = Array(bytes[(separator + 2)...])
        if fields.contains(where: { $0 == ("compressed", "zlib") }) {
            // zlib, inflated by Python's zlib (printed as hex, so no byte is lost on the way).
            let compressed = NSTemporaryDirectory() + "/age-vector-\(UUID().uuidString)"
            try writeFile(compressed, body)
            defer { unlink(compressed) }
            let inflated = try runProcess("/usr/bin/python3", ["-c", "import sys, zlib; print(zlib.decompress(open(sys.argv[1], 'rb').read()).hex())", compressed])
            try #require(inflated.status == 0, "\(inflated.stderr)")
            let hex = Array(inflated.stdout.trimmingCharacters(in: .whitespacesAndNewlines).utf8)
            body = stride(from: 0, to: hex.count, by: 2).map { UInt8(String(decoding: hex[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
        }
        return Vector(name: name, fields: fields, body: body)
    }

    /// The class the decryptor ends with and the SHA-256 of what it released.
    static func decrypt(_ vector: Vector) throws -> (String, String) {
        var identities = try vector.values("identity").map { try AgeIdentity(parsing: $0) }
        identities += vector.values("passphrase").map { AgeIdentity.scrypt(passphrase: $0) }
        let decryptor = AgeDecryptor(identities: identities)
        var hash = SHA256()
        let outcome: String
        do {
            var offset = 0
            while offset < vector.body.count {
                let end = min(offset + 7000, vector.body.count)
                try vector.body[offset..<end].withUnsafeBytes { try decryptor.update($0) { hash.update(data: $0) } }
                offset = end
            }
            try decryptor.finish { hash.update(data: $0) }
            outcome = "success"
        } catch let error as AgeError {
            switch error {
            case .header: outcome = "header failure"
            case .hmac: outcome = "HMAC failure"
            case .noMatch: outcome = "no match"
            case .payload: outcome = "payload failure"
            }
        }
        return (outcome, hash.finalize().hexString)
    }

    /// Why we do not run a vector, or nil.
    static func skipReason(_ vector: Vector) -> String? {
        if vector.value("armored") == "yes" || vector.value("expect") == "armor failure" { return "ASCII armor is not offered" }
        if vector.values("identity").contains(where: { $0.hasPrefix("AGE-SECRET-KEY-PQ-") }) || vector.name.hasPrefix("hybrid") {
            return "hybrid post-quantum recipients are not offered"
        }
        return nil
    }

    @Test func everyVectorOfAnOfferedFeatureGivesTheExpectedResult() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.directory).filter { $0 != "README.md" }.sorted()
        var ran = 0, passed = 0
        var skipped: [String: Int] = [:]
        var failures: [String] = []
        for name in names {
            let vector = try Self.load(name)
            if let reason = Self.skipReason(vector) {
                skipped[reason, default: 0] += 1
                continue
            }
            ran += 1
            let (outcome, payload) = try Self.decrypt(vector)
            let expected = vector.value("expect") ?? "?"
            let payloadMatters = expected == "success" || expected == "payload failure"
            if outcome == expected && (!payloadMatters || payload == vector.value("payload")) {
                passed += 1
            } else {
                failures.append("\(name): expected \(expected), got \(outcome)" + (payloadMatters && payload != vector.value("payload") ? " (payload hash differs)" : ""))
            }
        }
        let skips = skipped.sorted { $0.key < $1.key }.map { "\($0.value) skipped: \($0.key)" }.joined(separator: "; ")
        print("age test vectors: \(names.count) in all, \(ran) ran, \(passed) passed; \(skips)")
        #expect(names.count == 143, "the vector set is complete")
        #expect(failures.isEmpty, "\(failures.count) vectors failed:\n\(failures.joined(separator: "\n"))")
        #expect(ran >= 80, "\(ran) vectors ran")
    }
}
