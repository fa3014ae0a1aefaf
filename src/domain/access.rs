//! Who may do what with a pet, as pure rules: a caller's role on a pet and the rights table.
//! (Looking the role up is the store's: `store::pets::role_of`.)

/// The caller's relation to a pet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PetRole {
    Owner,
    Family,
}

impl PetRole {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Family => "family",
        }
    }
}

/// What a route does to a pet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read the pet, its members, live state, history and geofences.
    View,
    /// Create, change and delete geofences: family members keep a pet safe too.
    ManageGeofences,
    /// Send the collar a command (find me, lost mode, interval).
    Command,
    /// Create, list and revoke the pet's share links.
    Share,
    /// Change the pet's profile.
    Edit,
    /// Delete the pet, add or remove members, pair or unpair its collar.
    Administer,
}

impl PetRole {
    /// The rights table: the owner may do everything; family may look and manage fences.
    pub fn may(&self, action: Action) -> bool {
        match self {
            Self::Owner => true,
            Self::Family => matches!(
                action,
                Action::View | Action::ManageGeofences | Action::Command | Action::Share
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_may_view_and_manage_fences_but_not_administer() {
        assert!(PetRole::Family.may(Action::View));
        assert!(PetRole::Family.may(Action::ManageGeofences));
        assert!(!PetRole::Family.may(Action::Edit));
        assert!(!PetRole::Family.may(Action::Administer));
        assert!(PetRole::Owner.may(Action::Administer));
    }
}
