/** The server's handlers and their support code; not an API, may change in any release. */
package dev.extend.server.internal;
