//! The steps of a plan that are ready to start, queued per service, **longest chain
//! first**: a step that many others wait on, one after another (a port before its subnet
//! before its network before its router's interface...), starts before a step nothing
//! waits on. With a bounded number of steps in flight per service, starting the long
//! chains first keeps the sweep close to its critical path instead of finishing the
//! leaves first and the long chain last. Ties go in plan order.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

use crate::openstack::Service;

use super::plan::Plan;

/// One service's ready steps, the longest chain first, then in plan order.
#[derive(Debug, Default)]
pub(super) struct Queue(BTreeSet<(Reverse<usize>, usize)>);

impl Queue {
    /// Takes the step (by index) to start next.
    pub(super) fn pop(&mut self) -> Option<usize> {
        self.0.pop_first().map(|(_, step)| step)
    }
}

/// The ready steps of a plan, per service.
#[derive(Debug)]
pub(super) struct Ready {
    /// For each step (by index): how many steps, itself included, the longest chain of
    /// steps waiting on it holds.
    chain: Vec<usize>,
    queues: HashMap<Service, Queue>,
}

impl Ready {
    /// An empty queue for `plan`, whose step `i` is waited on by the steps `next[i]`.
    pub(super) fn new(plan: &Plan, next: &[Vec<usize>]) -> Ready {
        Ready {
            chain: chain_lengths(plan, next),
            queues: HashMap::new(),
        }
    }

    /// Queues step `i` (by index) of `plan` as ready.
    pub(super) fn push(&mut self, plan: &Plan, i: usize) {
        let length = self.chain.get(i).copied().unwrap_or(1);
        self.queues
            .entry(plan.steps[i].kind.service())
            .or_default()
            .0
            .insert((Reverse(length), i));
    }

    /// Each service with its queue.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (&Service, &mut Queue)> {
        self.queues.iter_mut()
    }
}

/// For each step, the number of steps on the longest chain starting at it (1 for a step
/// nothing waits on). Computed in reverse topological order; steps on a cycle, which a
/// plan never has, count 1.
fn chain_lengths(plan: &Plan, next: &[Vec<usize>]) -> Vec<usize> {
    let n = plan.steps.len();
    let mut waiting: Vec<usize> = plan.steps.iter().map(|s| s.after.len()).collect();
    let mut order: Vec<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut at = 0;
    while let Some(&i) = order.get(at) {
        at += 1;
        for &j in &next[i] {
            waiting[j] -= 1;
            if waiting[j] == 0 {
                order.push(j);
            }
        }
    }
    let mut chain = vec![1; n];
    for &i in order.iter().rev() {
        chain[i] = 1 + next[i].iter().map(|&j| chain[j]).max().unwrap_or(0);
    }
    chain
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::engine::plan::{Action, Step};
    use crate::resources::Kind;

    fn step(number: usize, kind: Kind, after: &[usize]) -> Step {
        Step {
            number,
            kind,
            id: format!("id-{number}"),
            name: format!("step-{number}"),
            action: Action::Delete,
            after: after.to_vec(),
        }
    }

    fn next_of(plan: &Plan) -> Vec<Vec<usize>> {
        let mut next = vec![Vec::new(); plan.steps.len()];
        for (i, s) in plan.steps.iter().enumerate() {
            for &a in &s.after {
                next[a - 1].push(i);
            }
        }
        next
    }

    fn plan(steps: Vec<Step>) -> Plan {
        Plan {
            steps,
            ..Plan::default()
        }
    }

    /// Of three ready ports, the one a chain of three steps waits on starts first, then
    /// the one a chain of two waits on, then the leaf; equal chains keep plan order.
    #[test]
    fn longest_chain_starts_first() {
        let plan = plan(vec![
            step(1, Kind::Port, &[]),     // leaf
            step(2, Kind::Port, &[]),     // before 4
            step(3, Kind::Port, &[]),     // before 5 before 6
            step(4, Kind::Subnet, &[2]),  // chain 2 from step 2
            step(5, Kind::Subnet, &[3]),  //
            step(6, Kind::Network, &[5]), // chain 3 from step 3
            step(7, Kind::Port, &[]),     // leaf, after step 1 in plan order
        ]);
        let next = next_of(&plan);
        assert_eq!(chain_lengths(&plan, &next), vec![1, 2, 3, 1, 2, 1, 1]);
        let mut ready = Ready::new(&plan, &next);
        for i in [0, 1, 2, 6] {
            ready.push(&plan, i);
        }
        let (service, queue) = ready.iter_mut().next().unwrap();
        assert_eq!(*service, Service::Network);
        let order: Vec<usize> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(order, vec![2, 1, 0, 6]);
    }

    /// Each service has its own queue; a chain counts the steps of every service on it.
    #[test]
    fn queues_are_per_service_and_chains_cross_services() {
        let plan = plan(vec![
            step(1, Kind::Server, &[]),
            step(2, Kind::Volume, &[1]),
            step(3, Kind::Port, &[1]),
            step(4, Kind::Network, &[3]),
            step(5, Kind::Volume, &[]),
        ]);
        let next = next_of(&plan);
        assert_eq!(chain_lengths(&plan, &next), vec![3, 1, 2, 1, 1]);
        let mut ready = Ready::new(&plan, &next);
        for i in [0, 4] {
            ready.push(&plan, i);
        }
        let mut by_service: Vec<(Service, Vec<usize>)> = ready
            .iter_mut()
            .map(|(s, q)| (*s, std::iter::from_fn(|| q.pop()).collect()))
            .collect();
        by_service.sort();
        assert_eq!(
            by_service,
            vec![
                (Service::Compute, vec![0]),
                (Service::BlockStorage, vec![4])
            ]
        );
    }
}
