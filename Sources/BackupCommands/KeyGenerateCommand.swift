import ArgumentParser
import BackupKit
import Foundation
import Glibc

extension KeyCommand {
    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "generate",
            abstract: "Write a new age identity (X25519) to a file of mode 0600 and print its recipient (age1…).",
            discussion: """
            The file has age-keygen's layout (a comment with the creation time and the public key, then the
            AGE-SECRET-KEY-1… line), so `age -d -i FILE` reads what BackupKit encrypts to its recipient.
            An existing file is never overwritten.

            Recommended: one identity per team, kept on the hosts (or in the vault) that restore, and a
            second one kept offline for recovery; both recipients on every encrypted sink. A host that only
            backs up needs the recipients, never an identity.
            Exit codes: 0 written, 2 the file exists or cannot be written.
            """
        )

        @Option(name: .shortAndLong, help: ArgumentHelp("The identity file to write.", valueName: "FILE"))
        var output: String

        @Flag(name: .long, help: "Print the result as JSON.")
        var json = false

        struct Generated: Encodable {
            var identityFile: String
            var recipient: String
        }

        func run() async throws {
            let identity = AgeIdentity.generate()
            guard let secret = identity.text, let recipient = identity.recipient.text else { throw ExitCode(ExitCodes.failure) }
            let formatter = ISO8601DateFormatter()
            let text = "# created: \(formatter.string(from: Date()))\n# public key: \(recipient)\n\(secret)\n"
            let fd = open(output, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                let reason = errno == EEXIST ? "it exists (an identity is never overwritten; choose another name)" : String(cString: strerror(errno))
                Terminal.error("backupctl: cannot write the identity file \(output): \(reason)")
                throw ExitCode(ExitCodes.usage)
            }
            fchmod(fd, 0o600)
            let bytes = Array(text.utf8)
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            let synced = fsync(fd) == 0
            close(fd)
            guard written == bytes.count, synced else {
                unlink(output)
                Terminal.error("backupctl: cannot write the identity file \(output): \(String(cString: strerror(errno)))")
                throw ExitCode(ExitCodes.usage)
            }
            if json {
                Terminal.json(Generated(identityFile: output, recipient: recipient))
            } else {
                Terminal.out(recipient)
                Terminal.error("backupctl: wrote the identity to \(output) (mode 0600); its recipient is printed above")
            }
        }
    }
}
