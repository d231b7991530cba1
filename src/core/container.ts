// eslint-disable-next-line import-x/no-unassigned-import -- tsyringe's decorators need the Reflect metadata polyfill loaded first
import 'reflect-metadata'
import type {Logger} from 'pino'
import {container as rootContainer, type DependencyContainer} from 'tsyringe'

import type {AccessJudge} from './access/policy.js'
import type {ServerConfig} from './config.js'
import type {CommandHandler} from './handler.js'
import {type HandlerRegistry, StartupError} from './registry.js'
import type {ImageStore} from './store/store.js'
import {Tokens} from './tokens.js'

/** The services one server shares with its handlers. */
export interface ServerServices {
  readonly store: ImageStore
  readonly logger: Logger
  readonly config: ServerConfig
  readonly registry: HandlerRegistry
  /** The access policy (`Tokens.Access`), for handlers and front doors that judge tokens themselves. */
  readonly access?: AccessJudge
}

/** The token under which the handler of one COMMAND is registered. */
export function handlerToken(command: string): symbol {
  return Symbol.for(`iss.handler.${command}`)
}

/**
 * Builds the server's own child container: the shared services as values, and one factory per
 * declared COMMAND. Handlers are built from their static `inject` list rather than from
 * design:paramtypes or tsyringe's decorators, so a class compiled by esbuild, written in plain JS or
 * decorated by another copy of tsyringe is built the same way. Each request gets a fresh handler.
 */
export function createServerContainer(services: ServerServices): DependencyContainer {
  const container = rootContainer.createChildContainer()
  container.register(Tokens.Store, {useValue: services.store})
  container.register(Tokens.Logger, {useValue: services.logger})
  container.register(Tokens.Config, {useValue: services.config})
  container.register(Tokens.Registry, {useValue: services.registry})
  if (services.access !== undefined) container.register(Tokens.Access, {useValue: services.access})

  for (const declaration of services.registry.declarations()) {
    const cls = declaration.handlerClass
    const inject = cls.inject ?? []
    // Fail at start rather than on the first request when a handler asks for a service we lack.
    for (const token of inject) {
      if (!container.isRegistered(token, true)) {
        throw new StartupError(
          'ISS_BAD_HANDLER',
          `Plugin '${declaration.plugin}': the ${declaration.command} handler injects ${String(token)}, ` +
            `which this server does not provide`,
        )
      }
    }

    container.register(handlerToken(declaration.command), {
      useFactory: (c) =>
        new (cls as unknown as new (...deps: unknown[]) => CommandHandler)(...inject.map((t) => c.resolve(t))),
    })
  }

  return container
}

/** The handler for `command`, freshly built; undefined when no plugin declares it. */
export function resolveHandler(container: DependencyContainer, command: string): CommandHandler | undefined {
  const token = handlerToken(command)
  return container.isRegistered(token) ? container.resolve<CommandHandler>(token) : undefined
}
