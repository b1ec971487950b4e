//! The records the API returns, from the core's table ([`portway::records!`]): typed,
//! immutable, comparable and hashable classes with a dataclass-like `repr` and a constructor
//! to build one to compare with. Statuses and kinds are strings (`"active"`, `"stopped"`).

use portway::{HostField, PortStatus, ResolutionKind, SandboxStatus};
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;

/// `Name(field=repr(value), ...)`, the way a dataclass shows itself.
fn show(name: &str, fields: &[(&str, Bound<'_, PyAny>)]) -> PyResult<String> {
    let fields = fields
        .iter()
        .map(|(field, value)| Ok(format!("{field}={}", value.repr()?)))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(format!("{name}({})", fields.join(", ")))
}

/// The marker of Python's side of [`portway::HostField`]: statuses and kinds are strings.
pub(crate) struct InPython;

portway::host_field_as_is!(InPython: u16, usize, u64, String, Option<String>, Option<u16>);

macro_rules! named_in_python {
    ($($ty:ty),*) => {
        $(impl HostField<InPython> for $ty {
            type Value = String;
            fn into_host(self) -> String {
                self.as_str().to_owned()
            }
        })*
    };
}

named_in_python!(PortStatus, SandboxStatus);

impl HostField<InPython> for ResolutionKind {
    type Value = String;
    fn into_host(self) -> String {
        self.to_owned()
    }
}

macro_rules! python_records {
    ($($(#[doc = $doc:literal])* $record:ident($value:ident: $core:ty) {
        $($(#[doc = $fdoc:literal])* $field:ident: $ty:ty $(= $none:ident)? => $read:expr,)*
    })*) => {$(
        $(#[doc = $doc])*
        #[pyclass(module = "portway", frozen, eq, hash, get_all)]
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $record {
            $($(#[doc = $fdoc])* $field: <$ty as HostField<InPython>>::Value,)*
        }

        #[pymethods]
        impl $record {
            #[new]
            #[pyo3(signature = ($($field $(= $none)?),*))]
            fn new($($field: <$ty as HostField<InPython>>::Value),*) -> Self {
                $record { $($field),* }
            }

            fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
                show(
                    stringify!($record),
                    &[$((stringify!($field), (&self.$field).into_bound_py_any(py)?)),*],
                )
            }
        }

        impl From<$core> for $record {
            fn from($value: $core) -> Self {
                $record { $($field: <$ty as HostField<InPython>>::into_host($read)),* }
            }
        }
    )*};
}

portway::records!(python_records);

/// Every core record of `items` as its Python class.
pub(crate) fn all<T, U: From<T>>(items: Vec<T>) -> Vec<U> {
    items.into_iter().map(U::from).collect()
}
