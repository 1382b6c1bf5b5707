//! The error type shared by the model, the plugins and the engine.
//!
//! An error always says what kind of failure it is (so the driver can pick an exit code),
//! what was expected, and where: the byte offset in the input and the entry path when known.
//! The engine adds the file name of the input or output before it reaches the user.

use std::fmt;

/// Families of failure. The numeric values are stable: they cross the plugin ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum ErrorKind {
    /// An operating-system I/O error.
    Io = 1,
    /// A media condition: unexpected tape mark, end of medium, a drive error.
    Media = 2,
    /// The input is not what the format says: bad magic, checksum, impossible field.
    Corrupt = 3,
    /// The input ends before the structure it started.
    Truncated = 4,
    /// Valid input using a feature relic does not implement (yet).
    Unsupported = 5,
    /// The user or host asked to stop.
    Cancelled = 6,
    /// Bad options or configuration.
    Config = 7,
    /// A bug: a panic caught at the plugin boundary, a broken invariant.
    Internal = 8,
    /// An entry that would be written outside the extraction target, or through a symlink.
    Unsafe = 9,
    /// Information would be lost and the user asked for `--strict`.
    Loss = 10,
    /// No plugin provides the requested format or medium.
    NotFound = 11,
}

impl ErrorKind {
    /// Decode the ABI value; unknown values (from a newer plugin) become `Internal`.
    pub fn from_u32(v: u32) -> ErrorKind {
        match v {
            1 => ErrorKind::Io,
            2 => ErrorKind::Media,
            3 => ErrorKind::Corrupt,
            4 => ErrorKind::Truncated,
            5 => ErrorKind::Unsupported,
            6 => ErrorKind::Cancelled,
            7 => ErrorKind::Config,
            9 => ErrorKind::Unsafe,
            10 => ErrorKind::Loss,
            11 => ErrorKind::NotFound,
            _ => ErrorKind::Internal,
        }
    }

    /// Short lower-case name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Io => "I/O error",
            ErrorKind::Media => "media error",
            ErrorKind::Corrupt => "corrupt input",
            ErrorKind::Truncated => "truncated input",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Config => "bad option",
            ErrorKind::Internal => "internal error",
            ErrorKind::Unsafe => "unsafe path",
            ErrorKind::Loss => "information loss",
            ErrorKind::NotFound => "not found",
        }
    }
}

/// An error with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// Byte offset in the input (or output) where the problem was found.
    pub offset: Option<u64>,
    /// The archive entry being processed, as raw path bytes.
    pub entry: Option<Vec<u8>>,
    /// The file, device or medium name, added by the engine.
    pub file: Option<String>,
    /// A reader may set this when it can resynchronise and go on after the error.
    pub recoverable: bool,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            offset: None,
            entry: None,
            file: None,
            recoverable: false,
        }
    }
    pub fn corrupt(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Corrupt, message)
    }
    pub fn truncated(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Truncated, message)
    }
    pub fn unsupported(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Unsupported, message)
    }
    pub fn config(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Config, message)
    }
    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, message)
    }
    pub fn media(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Media, message)
    }
    pub fn io(context: impl fmt::Display, err: &std::io::Error) -> Error {
        Error::new(ErrorKind::Io, format!("{context}: {err}"))
    }
    pub fn at(mut self, offset: u64) -> Error {
        self.offset = Some(offset);
        self
    }
    pub fn entry(mut self, path: &[u8]) -> Error {
        self.entry = Some(path.to_vec());
        self
    }
    /// Name the file unless a more precise name is already set.
    pub fn in_file(mut self, file: impl Into<String>) -> Error {
        if self.file.is_none() {
            self.file = Some(file.into());
        }
        self
    }
    pub fn recoverable(mut self) -> Error {
        self.recoverable = true;
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}: ")?;
        }
        if let Some(off) = self.offset {
            write!(f, "at offset {off}: ")?;
        }
        if let Some(e) = &self.entry {
            write!(f, "{}: ", String::from_utf8_lossy(e))?;
        }
        write!(f, "{}: {}", self.kind.name(), self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::new(ErrorKind::Io, e.to_string())
    }
}
