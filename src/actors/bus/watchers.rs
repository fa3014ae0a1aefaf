//! Who watches what, across the cluster: per pet, the nodes whose sessions watch it (or are
//! in its grace period). A pet's collar is in live mode while that set is not empty, so every
//! node can tell its registry when the first watcher anywhere arrived and when the last one
//! left. Pure bookkeeping; the live bus feeds it and acts on what it returns.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::cluster::NodeId;
use crate::ids::PetId;

/// A switch of a pet's live mode: `(pet, true)` when its first watcher anywhere arrived,
/// `(pet, false)` when its last one left.
pub type Switch = (PetId, bool);

/// The watcher union of the cluster as this node knows it.
#[derive(Debug)]
pub struct Watchers {
    me: NodeId,
    by_pet: HashMap<PetId, HashSet<NodeId>>,
    by_node: HashMap<NodeId, BTreeSet<PetId>>,
}

impl Watchers {
    pub fn new(me: NodeId) -> Self {
        Self {
            me,
            by_pet: HashMap::new(),
            by_node: HashMap::new(),
        }
    }

    /// `node` started (`live`) or stopped watching `pet`; the switch it causes, if any.
    pub fn set(&mut self, node: &NodeId, pet: PetId, live: bool) -> Option<Switch> {
        if live {
            self.add(node, pet)
        } else {
            self.remove(node, pet)
        }
    }

    /// `node` watches exactly `pets` (its set, as read from Redis).
    pub fn replace(&mut self, node: &NodeId, pets: BTreeSet<PetId>) -> Vec<Switch> {
        let before = self.by_node.get(node).cloned().unwrap_or_default();
        let gone = before.difference(&pets).map(|pet| self.remove(node, *pet));
        let gone: Vec<Option<Switch>> = gone.collect();
        let came: Vec<Option<Switch>> = pets.iter().map(|pet| self.add(node, *pet)).collect();
        gone.into_iter().chain(came).flatten().collect()
    }

    /// Only `members` (and this node) count from now on: the pets of the nodes that left
    /// lose those watchers.
    pub fn retain_nodes(&mut self, members: &[NodeId]) -> Vec<Switch> {
        let gone: Vec<NodeId> = self
            .by_node
            .keys()
            .filter(|node| **node != self.me && !members.contains(node))
            .cloned()
            .collect();
        gone.iter()
            .flat_map(|node| self.replace(node, BTreeSet::new()))
            .collect()
    }

    /// True when a node other than this one watches `pet`.
    pub fn watched_elsewhere(&self, pet: PetId) -> bool {
        self.by_pet
            .get(&pet)
            .is_some_and(|nodes| nodes.iter().any(|node| *node != self.me))
    }

    /// True when some node watches `pet`.
    pub fn watched(&self, pet: PetId) -> bool {
        self.by_pet.contains_key(&pet)
    }

    /// The pets this node watches.
    pub fn mine(&self) -> BTreeSet<PetId> {
        self.by_node.get(&self.me).cloned().unwrap_or_default()
    }

    fn add(&mut self, node: &NodeId, pet: PetId) -> Option<Switch> {
        if !self.by_node.entry(node.clone()).or_default().insert(pet) {
            return None;
        }
        let nodes = self.by_pet.entry(pet).or_default();
        nodes.insert(node.clone());
        (nodes.len() == 1).then_some((pet, true))
    }

    fn remove(&mut self, node: &NodeId, pet: PetId) -> Option<Switch> {
        let pets = self.by_node.get_mut(node)?;
        if !pets.remove(&pet) {
            return None;
        }
        if pets.is_empty() {
            self.by_node.remove(node);
        }
        let nodes = self.by_pet.get_mut(&pet)?;
        nodes.remove(node);
        if !nodes.is_empty() {
            return None;
        }
        self.by_pet.remove(&pet);
        Some((pet, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str) -> NodeId {
        NodeId::parse(id).unwrap()
    }

    #[test]
    fn live_mode_is_on_from_the_first_watcher_anywhere_to_the_last() {
        let (a, b) = (node("a"), node("b"));
        let mut watchers = Watchers::new(a.clone());
        let pet = PetId::new();
        assert_eq!(watchers.set(&b, pet, true), Some((pet, true)));
        assert_eq!(watchers.set(&a, pet, true), None);
        assert_eq!(
            watchers.set(&b, pet, true),
            None,
            "an announcement heard twice"
        );
        assert!(watchers.watched_elsewhere(pet));
        assert_eq!(watchers.set(&b, pet, false), None, "a still watches");
        assert!(!watchers.watched_elsewhere(pet));
        assert_eq!(watchers.set(&a, pet, false), Some((pet, false)));
        assert_eq!(watchers.set(&a, pet, false), None);
        assert!(!watchers.watched(pet));
    }

    #[test]
    fn a_node_that_leaves_stops_counting_and_this_node_always_counts() {
        let (a, b, c) = (node("a"), node("b"), node("c"));
        let mut watchers = Watchers::new(a.clone());
        let (only_b, shared, mine) = (PetId::new(), PetId::new(), PetId::new());
        watchers.set(&b, only_b, true);
        watchers.set(&b, shared, true);
        watchers.set(&c, shared, true);
        watchers.set(&a, mine, true);
        let switches = watchers.retain_nodes(std::slice::from_ref(&c));
        assert_eq!(switches, vec![(only_b, false)]);
        assert!(watchers.watched(shared) && watchers.watched(mine));
        assert!(watchers.retain_nodes(&[]).contains(&(shared, false)));
        assert_eq!(watchers.mine(), BTreeSet::from([mine]));
    }

    #[test]
    fn a_set_read_again_switches_only_what_changed() {
        let (a, b) = (node("a"), node("b"));
        let mut watchers = Watchers::new(a);
        let (kept, dropped, missed) = (PetId::new(), PetId::new(), PetId::new());
        watchers.replace(&b, BTreeSet::from([kept, dropped]));
        let mut switches = watchers.replace(&b, BTreeSet::from([kept, missed]));
        switches.sort_by_key(|(_, live)| *live);
        assert_eq!(switches, vec![(dropped, false), (missed, true)]);
    }
}
