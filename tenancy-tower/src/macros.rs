//! Helpers shared by the middleware services.

/// `get_ref`, `get_mut` and `into_inner` for a service whose wrapped
/// service is the field `inner` of type `S` (the same accessors, and the
/// same macro, as tower-http's middleware).
macro_rules! define_inner_service_accessors {
    () => {
        /// The inner service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The inner service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// The inner service, unwrapped.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}
