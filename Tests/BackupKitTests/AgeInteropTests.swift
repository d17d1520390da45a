@testable import BackupKit
import Glibc
import Foundation
import Testing

/// Our age files against Debian's `age` 1.1.1, both ways: what we write, `age -d` reads; what `age -r`
/// and `age -p` write, we read.
@Suite struct AgeInteropTests {
    static func encrypt(_ plaintext: [UInt8], to recipients: [AgeRecipient]) throws -> [UInt8] {
        let encryptor = try AgeEncryptor(recipients: recipients)
        var file = encryptor.prefix
        // Odd-sized writes, so chunk boundaries fall inside them.
        var offset = 0
        while offset < plaintext.count {
            let end = min(offset + 10_007, plaintext.count)
            try plaintext[offset..<end].withUnsafeBytes { try encryptor.update($0) { file += $0 } }
            offset = end
        }
        try encryptor.finish { file += $0 }
        return file
    }

    static func decrypt(_ file: [UInt8], with identities: [AgeIdentity]) throws -> [UInt8] {
        let decryptor = AgeDecryptor(identities: identities)
        var plain: [UInt8] = []
        try file.withUnsafeBytes { try decryptor.update($0) { plain += $0 } }
        try decryptor.finish { plain += $0 }
        return plain
    }

    /// Runs `age` with a passphrase typed at its terminal prompt (age reads passphrases from the tty).
    static func ageWithPassphrase(_ arguments: [String], passphrase: String, directory: String) throws -> ProcessResult {
        let script = """
        import os, pty, sys, time
        pid, fd = pty.fork()
        if pid == 0:
            os.execv('/usr/bin/age', ['age'] + sys.argv[2:])
        def expect(word):
            seen = b''
            while word not in seen.lower():
                chunk = os.read(fd, 1024)
                if not chunk: sys.exit('age ended before asking for the passphrase: ' + seen.decode(errors='replace'))
                seen += chunk
        answers = 2 if '-p' in sys.argv[2:] else 1
        for _ in range(answers):
            expect(b'passphrase')
            os.write(fd, sys.argv[1].encode() + b'\\n')
        while True:
            try:
                if not os.read(fd, 1024): break
            except OSError:
                break
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
        """
        return try runProcess("/usr/bin/python3", ["-c", script, passphrase] + arguments, directory: directory)
    }

    @Test(arguments: [0, 1, 65_535, 65_536, 65_537, 3 * 65_536 + 11])
    func filesWeWriteAgeDecrypts(size: Int) throws {
        let dir = try TemporaryDirectory("age-interop-out")
        defer { dir.remove() }
        let identity = AgeIdentity.generate()
        try writeFile(dir.sub("key.txt"), try #require(identity.text) + "\n", mode: 0o600)
        let plaintext = pseudoRandomBytes(size, seed: UInt64(size))
        try writeFile(dir.sub("file.age"), try Self.encrypt(plaintext, to: [identity.recipient, AgeIdentity.generate().recipient]))
        let decrypted = try runProcess("/bin/sh", ["-c", "age -d -i key.txt -o out.bin file.age"], directory: dir.path)
        #expect(decrypted.status == 0, "\(decrypted.stderr)")
        #expect(readFile(dir.sub("out.bin")) ?? [] == plaintext)
    }

    @Test func filesAgeWritesWeDecrypt() throws {
        let dir = try TemporaryDirectory("age-interop-in")
        defer { dir.remove() }
        let identity = AgeIdentity.generate()
        let plaintext = pseudoRandomBytes(200_000)
        try writeFile(dir.sub("plain.bin"), plaintext)
        let recipient = try #require(identity.recipient.text)
        let encrypted = try runProcess("/bin/sh", ["-c", "age -r \(recipient) -o file.age plain.bin"], directory: dir.path)
        #expect(encrypted.status == 0, "\(encrypted.stderr)")
        #expect(try Self.decrypt(try #require(readFile(dir.sub("file.age"))), with: [AgeIdentity.generate(), identity]) == plaintext)

        // age-keygen's identities parse too.
        #expect(try runProcess("/bin/sh", ["-c", "age-keygen -o other.txt 2>/dev/null"], directory: dir.path).status == 0)
        let line = try #require(String(decoding: readFile(dir.sub("other.txt")) ?? [], as: UTF8.self).split(separator: "\n").first { $0.hasPrefix("AGE-SECRET-KEY-1") })
        let other = try AgeIdentity(parsing: String(line))
        #expect(try runProcess("/bin/sh", ["-c", "age -r \(try #require(other.recipient.text)) -o other.age plain.bin"], directory: dir.path).status == 0)
        #expect(try Self.decrypt(try #require(readFile(dir.sub("other.age"))), with: [other]) == plaintext)
        #expect(throws: AgeError.noMatch) { try Self.decrypt(try #require(readFile(dir.sub("other.age"))), with: [identity]) }
    }

    @Test func passphrasesBothWays() throws {
        let dir = try TemporaryDirectory("age-interop-pass")
        defer { dir.remove() }
        let plaintext = pseudoRandomBytes(70_000)
        try writeFile(dir.sub("plain.bin"), plaintext)
        let passphrase = "correct horse battery staple"
        let written = try Self.ageWithPassphrase(["-p", "-o", "file.age", "plain.bin"], passphrase: passphrase, directory: dir.path)
        #expect(written.status == 0, "\(written.stdout)\(written.stderr)")
        #expect(try Self.decrypt(try #require(readFile(dir.sub("file.age"))), with: [.scrypt(passphrase: passphrase)]) == plaintext)

        try writeFile(dir.sub("ours.age"), try Self.encrypt(plaintext, to: [.scrypt(passphrase: passphrase, workFactor: 12)]))
        let read = try Self.ageWithPassphrase(["-d", "-o", "out.bin", "ours.age"], passphrase: passphrase, directory: dir.path)
        #expect(read.status == 0, "\(read.stdout)\(read.stderr)")
        #expect(readFile(dir.sub("out.bin")) ?? [] == plaintext)
        #expect(throws: AgeError.noMatch) { try Self.decrypt(try #require(readFile(dir.sub("ours.age"))), with: [.scrypt(passphrase: "wrong")]) }
    }

    @Test func damageIsCaughtByClass() throws {
        let identity = AgeIdentity.generate()
        let file = try Self.encrypt(pseudoRandomBytes(150_000), to: [identity.recipient])
        let headerLength = try AgeHeader(parsing: file).length
        var header = file
        header[20] ^= 1  // in the version line
        #expect(throws: AgeError.self) { try Self.decrypt(header, with: [identity]) }
        var mac = file
        mac[headerLength - 10] = mac[headerLength - 10] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect { try Self.decrypt(mac, with: [identity]) } throws: { ($0 as? AgeError).map { if case .header = $0 { true } else { $0 == .hmac } } ?? false }
        var payload = file
        payload[headerLength + 16 + 70_000] ^= 1
        #expect { try Self.decrypt(payload, with: [identity]) } throws: { if case .payload = $0 as? AgeError { true } else { false } }
        #expect { try Self.decrypt(Array(file.dropLast(100)), with: [identity]) } throws: { if case .payload = $0 as? AgeError { true } else { false } }
    }

    @Test func bech32RoundTripsAndRejectsDamage() throws {
        let identity = AgeIdentity.generate()
        let text = try #require(identity.text)
        #expect(text.hasPrefix("AGE-SECRET-KEY-1"))
        #expect(try AgeIdentity(parsing: text).recipient == identity.recipient)
        let recipient = try #require(identity.recipient.text)
        #expect(try AgeRecipient(parsing: recipient) == identity.recipient)
        var broken = Array(recipient)
        broken[10] = broken[10] == "q" ? "p" : "q"
        #expect(throws: BackupError.self) { try AgeRecipient(parsing: String(broken)) }
        #expect(throws: BackupError.self) { try AgeRecipient(parsing: String(recipient.uppercased().prefix(20)) + recipient.dropFirst(20)) }
    }
}

/// `backupctl key generate`: an identity file age reads, never overwritten.
@Suite struct KeyGenerateTests {
    @Test func anIdentityFileThatAgeReadsAndThatIsNeverOverwritten() throws {
        let dir = try TemporaryDirectory("key-generate")
        defer { dir.remove() }
        let generated = try backupctl(["key", "generate", "--output", "team.key"], in: dir.path)
        #expect(generated.status == 0, "\(generated.stderr)")
        let recipient = generated.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(recipient.hasPrefix("age1") && (try? AgeRecipient(parsing: recipient)) != nil, "\(generated.stdout)")
        #expect(!generated.stdout.contains("AGE-SECRET-KEY") && !generated.stderr.contains("AGE-SECRET-KEY"), "the identity is never printed")
        var info = stat()
        #expect(stat(dir.sub("team.key"), &info) == 0 && info.st_mode & 0o777 == 0o600)

        let plaintext = pseudoRandomBytes(100_000)
        try writeFile(dir.sub("file.age"), try AgeInteropTests.encrypt(plaintext, to: [try AgeRecipient(parsing: recipient)]))
        let decrypted = try runProcess("/bin/sh", ["-c", "age -d -i team.key -o out.bin file.age"], directory: dir.path)
        #expect(decrypted.status == 0 && readFile(dir.sub("out.bin")) == plaintext, "\(decrypted.stderr)")

        let before = readFile(dir.sub("team.key"))
        let again = try backupctl(["key", "generate", "--output", "team.key"], in: dir.path)
        #expect(again.status == 2 && again.stderr.contains("never overwritten"), "\(again.stderr)")
        #expect(readFile(dir.sub("team.key")) == before)
    }
}
