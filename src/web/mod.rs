//! The RealWorld web app, served by the same binary beside the API: pages
//! rendered on the server from templates checked at compile time
//! (`src/web/templates/`), usable without JavaScript. Links and forms only;
//! every form posts to its own page's path, then redirects (303) to the page
//! that shows the result.
//!
//! The pages call the same domain rules and the same store as the API
//! (through [`crate::http`]'s shared operations), so they give the same
//! validation messages.
//!
//! - `pages/`: one module per page and the posts it answers.
//! - `session.rs`: the sign-in cookie. `csrf.rs`: the same-site check on posts.
//! - `render.rs`: the frame around pages, redirects, error pages, headers.
//! - `views.rs`: what templates show. `markdown.rs`: article bodies.
//! - `form.rs`: form bodies. `assets.rs`: the stylesheet and default avatar.
//! - `feeds.rs`: Atom feeds for feed readers. `sitemap.rs`: `robots.txt`
//!   and the sitemap, for search engines.

mod assets;
mod csrf;
mod feeds;
mod form;
mod markdown;
mod pages;
mod render;
mod session;
mod sitemap;
mod views;
mod xml;

use crate::http::route::{Route, Table};
use crate::http::Site;

const GROUPS: &[&[Route]] = &[
    pages::home::ROUTES,
    pages::account::ROUTES,
    pages::editor::ROUTES,
    pages::article::ROUTES,
    pages::profile::ROUTES,
    pages::search::ROUTES,
    feeds::ROUTES,
    sitemap::ROUTES,
    assets::ROUTES,
];

/// The web app as the HTTP layer serves it.
pub const SITE: Site = Site {
    pages: Table(GROUPS),
    miss: |call, miss| Box::pin(pages::miss(call, miss)),
    finish: render::secure_headers,
};
