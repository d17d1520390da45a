import Foundation

/// An error as reports and alerts carry it: its stable code and its (secret-free) message.
public struct ReportedError: Sendable, Codable, Hashable {
    public var code: BackupError.Code
    public var message: String

    public init(code: BackupError.Code, message: String) {
        self.code = code
        self.message = message
    }

    public init(_ error: BackupError) {
        self.init(code: error.code, message: error.message)
    }
}
