//! What a subject's campaign should reach: the points declared in its manager's code, the
//! world points the harness requires, and the points it cannot reach, each with the reason.

use agent_lifecycle::point::Point;

use super::world::{REQUIRED_WORLD, WORLD_POINTS};

/// A subject's coverage catalog.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    /// Declared in the manager's code ([`agent_lifecycle::point!`]).
    pub declared: Vec<Point>,
    /// Points (declared or world) the subject cannot reach, with the reason.
    pub unreachable: Vec<(&'static str, &'static str)>,
}

/// The points a run requires, read from a file: one a line, `point` or `model: point`, `#`
/// starts a comment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requirement {
    /// (model, point); a point with no model is required of every model that knows it.
    pub points: Vec<(Option<String>, String)>,
    /// The model the requirement is being applied to.
    pub model: Option<String>,
}

impl Requirement {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut points = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let (model, point) = match line.split_once(':') {
                Some((model, point)) => (Some(model.trim().to_string()), point.trim()),
                None => (None, line),
            };
            if point.is_empty() || point.contains(char::is_whitespace) {
                return Err(format!("line {}: `{line}` is not a point name", n + 1));
            }
            points.push((model, point.to_string()));
        }
        Ok(Self {
            points,
            model: None,
        })
    }

    /// The requirement as it applies to `model`.
    pub fn for_model(&self, model: &str) -> Self {
        Self {
            points: self.points.clone(),
            model: Some(model.to_string()),
        }
    }

    /// Whether it names `point` (for its model).
    pub fn names(&self, point: &str) -> bool {
        self.points.iter().any(|(model, p)| {
            p == point && (model.is_none() || model.as_deref() == self.model.as_deref())
        })
    }
}

/// Whether a point is required, and if not, why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// A campaign must reach it.
    Required,
    /// Reported, not required: a world point outside the required set.
    Observed,
    /// The subject cannot reach it, for this reason.
    Unreachable(&'static str),
}

impl Catalog {
    /// A catalog of the points `declared` in the manager's code, with none unreachable.
    pub fn new(declared: impl IntoIterator<Item = Point>) -> Self {
        Self {
            declared: declared.into_iter().collect(),
            unreachable: Vec::new(),
        }
    }

    /// Marks `point` as one the subject cannot reach, and why.
    pub fn unreachable(mut self, point: &'static str, why: &'static str) -> Self {
        self.unreachable.push((point, why));
        self
    }

    /// Every point the catalog knows: the declared ones, then every world point.
    pub fn all(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.declared
            .iter()
            .map(|p| p.name)
            .chain(WORLD_POINTS.iter().copied())
    }

    /// Whether `point` is required of the subject, and if not, why.
    pub fn need(&self, point: &str) -> Need {
        if let Some((_, why)) = self.unreachable.iter().find(|(p, _)| *p == point) {
            Need::Unreachable(why)
        } else if self.declared.iter().any(|p| p.name == point) || REQUIRED_WORLD.contains(&point) {
            Need::Required
        } else {
            Need::Observed
        }
    }

    /// What `--require-coverage` requires: every declared point and every required world
    /// point, except the unreachable ones.
    pub fn required(&self) -> Vec<&'static str> {
        self.all()
            .filter(|p| self.need(p) == Need::Required)
            .collect()
    }

    /// [`Self::need`] under a requirement: the catalog's own (`None`), or a list of points,
    /// which requires exactly those of them the catalog knows.
    pub fn need_under(&self, point: &str, listed: Option<&Requirement>) -> Need {
        match (self.need(point), listed) {
            (Need::Unreachable(why), _) => Need::Unreachable(why),
            (need, None) => need,
            (_, Some(list)) if list.names(point) => Need::Required,
            (_, Some(_)) => Need::Observed,
        }
    }

    /// What the point means, if the manager declared it.
    pub fn about(&self, point: &str) -> Option<&'static str> {
        self.declared
            .iter()
            .find(|p| p.name == point)
            .map(|p| p.about)
    }
}
